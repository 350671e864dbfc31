-- The Lead Nurture page: the runbook's KPI table over campaign_analytics days [start_day, end_day),
-- for every campaign, one organization or one campaign (never email_sends: the rollup's figures).
-- Params: start_day, end_day (date, half-open); organization_id (uuid or NULL: all);
--         campaign_id (bigint or NULL: all).
-- Rates are percentages with 2 decimals over the summed counts (NULL when nothing was sent), as
-- checks/daily/measure_kpis.sql computes them for one day.
SELECT
    COUNT(DISTINCT ca.analytics_date) AS days_with_data,
    COALESCE(SUM(ca.emails_sent_today), 0) AS emails_sent,
    COALESCE(SUM(ca.emails_delivered_today), 0) AS delivered,
    COALESCE(SUM(ca.emails_failed_today), 0) AS failed,
    COALESCE(SUM(ca.emails_bounced_today), 0) AS bounced,
    COALESCE(SUM(ca.unique_opens_today), 0) AS unique_opens,
    COALESCE(SUM(ca.unique_clicks_today), 0) AS unique_clicks,
    COALESCE(SUM(ca.unsubscribes_today), 0) AS unsubscribes,
    ROUND(
        SUM(ca.emails_delivered_today) * 100.0
        / NULLIF(SUM(ca.emails_delivered_today + ca.emails_failed_today + ca.emails_bounced_today), 0),
        2
    ) AS delivery_rate,
    ROUND(SUM(ca.unique_opens_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS open_rate,
    ROUND(SUM(ca.unique_clicks_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS click_rate,
    ROUND(SUM(ca.unsubscribes_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS unsubscribe_rate,
    ROUND(SUM(ca.emails_bounced_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS bounce_rate
FROM campaign_analytics AS ca
WHERE
    ca.analytics_date >= CAST({{ bind("start_day") }} AS date)
    AND ca.analytics_date < CAST({{ bind("end_day") }} AS date)
    AND (
        CAST({{ bind("organization_id") }} AS uuid) IS NULL
        OR ca.organization_id = CAST({{ bind("organization_id") }} AS uuid)
    )
    AND (
        CAST({{ bind("campaign_id") }} AS bigint) IS NULL
        OR ca.campaign_id = CAST({{ bind("campaign_id") }} AS bigint)
    )
