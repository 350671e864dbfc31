-- The Lead Nurture page's trends: open, click, bounce and unsubscribe rates per day of
-- campaign_analytics in [start_day, end_day), for every campaign, one organization or one campaign.
-- Params: start_day, end_day (date, half-open); organization_id (uuid or NULL); campaign_id
--         (bigint or NULL). One row per day that has analytics, oldest first. Rates and selection:
--         include/sql/macros/analytics_scope.sql (shared with select_kpi_totals.sql).
{% import "macros/analytics_scope.sql" as analytics_scope %}
SELECT
    ca.analytics_date AS day,
    SUM(ca.emails_sent_today) AS emails_sent,
    {{ analytics_scope.rates("ca") }}
FROM campaign_analytics AS ca
WHERE
    {{ analytics_scope.in_scope("ca") }}
GROUP BY ca.analytics_date
ORDER BY ca.analytics_date
