-- The Lead Nurture page's trends: open, click, bounce and unsubscribe rates per day of
-- campaign_analytics in [start_day, end_day), for every campaign, one organization or one campaign.
-- Params: start_day, end_day (date, half-open); organization_id (uuid or NULL); campaign_id
--         (bigint or NULL). One row per day that has analytics, oldest first; rates as in
--         select_kpi_totals.sql.
SELECT
    ca.analytics_date AS day,
    SUM(ca.emails_sent_today) AS emails_sent,
    ROUND(SUM(ca.unique_opens_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS open_rate,
    ROUND(SUM(ca.unique_clicks_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS click_rate,
    ROUND(SUM(ca.emails_bounced_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS bounce_rate,
    ROUND(SUM(ca.unsubscribes_today) * 100.0 / NULLIF(SUM(ca.emails_sent_today), 0), 2) AS unsubscribe_rate
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
GROUP BY ca.analytics_date
ORDER BY ca.analytics_date
