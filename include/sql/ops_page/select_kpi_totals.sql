-- The Lead Nurture page: the runbook's KPI table over campaign_analytics days [start_day, end_day),
-- for every campaign, one organization or one campaign (never email_sends: the rollup's figures).
-- Params: start_day, end_day (date, half-open); organization_id (uuid or NULL: all);
--         campaign_id (bigint or NULL: all).
-- Rates and selection: include/sql/macros/analytics_scope.sql (shared with select_daily_rates.sql);
-- delivery_rate is delivered over delivered + failed + bounced.
{% import "macros/analytics_scope.sql" as analytics_scope %}
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
    {{ analytics_scope.rates("ca") }}
FROM campaign_analytics AS ca
WHERE
    {{ analytics_scope.in_scope("ca") }}
