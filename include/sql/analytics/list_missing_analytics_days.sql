-- Days without complete analytics (runbook Issue 5), for the daily gap filler.
-- Params: lookback_start, day (date): the analytics days to verify, inclusive, UTC days.
-- Jinja: sends_archive (bool): email_sends_archive exists, so its sends count too (as in
--        upsert_campaign_analytics.sql: a partly archived day is still a day with sends).
-- The rule and its cost: include/sql/macros/missing_analytics.sql (shared with
-- checks/daily/measure_analytics_freshness.sql).
-- A day is listed when some campaign sent that day (email_sends.actual_send_time, live or
-- archived) but has no campaign_analytics row for it.
-- One row per such day, oldest first:
--   analytics_date, campaigns_missing, campaigns_with_sends
{% import "macros/missing_analytics.sql" as missing_analytics %}
WITH {{ missing_analytics.per_day_ctes(sends_archive) }}

SELECT
    pd.analytics_date,
    pd.campaigns_missing,
    pd.campaigns_with_sends
FROM per_day AS pd
WHERE pd.campaigns_missing > 0
ORDER BY pd.analytics_date ASC;
