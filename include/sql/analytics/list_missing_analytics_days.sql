-- Days without complete analytics (runbook Issue 5), for the daily gap filler.
-- Params: lookback_start, day (date): the analytics days to verify, inclusive, UTC days.
-- Jinja: sends_archive (bool): email_sends_archive exists, so its sends count too (as in
--        upsert_campaign_analytics.sql: a partly archived day is still a day with sends).
-- The same logic as checks/daily/measure_analytics_freshness.sql, as a full list (keep in step).
-- A day is listed when some campaign sent that day (email_sends.actual_send_time, live or
-- archived) but has no campaign_analytics row for it.
-- One row per such day, oldest first:
--   analytics_date, campaigns_missing, campaigns_with_sends
WITH campaign_days AS (
    SELECT DISTINCT
        es.campaign_id,
        CAST(es.actual_send_time AT TIME ZONE 'UTC' AS date) AS analytics_date
    FROM email_sends AS es
    WHERE
        es.actual_send_time
        >= CAST(CAST({{ bind("lookback_start") }} AS date) AS timestamp) AT TIME ZONE 'UTC'
        AND es.actual_send_time
        < CAST(CAST({{ bind("day") }} AS date) + 1 AS timestamp) AT TIME ZONE 'UTC'
    {%- if sends_archive %}

        UNION

        SELECT
            esa.campaign_id,
            CAST(esa.actual_send_time AT TIME ZONE 'UTC' AS date) AS analytics_date
        FROM email_sends_archive AS esa
        WHERE
            esa.actual_send_time
            >= CAST(CAST({{ bind("lookback_start") }} AS date) AS timestamp) AT TIME ZONE 'UTC'
            AND esa.actual_send_time
            < CAST(CAST({{ bind("day") }} AS date) + 1 AS timestamp) AT TIME ZONE 'UTC'
    {%- endif %}
),

per_day AS (
    SELECT
        cd.analytics_date,
        COUNT(*) AS campaigns_with_sends,
        COUNT(*) FILTER (
            WHERE NOT EXISTS (
                SELECT 1
                FROM campaign_analytics AS ca
                WHERE ca.campaign_id = cd.campaign_id AND ca.analytics_date = cd.analytics_date
            )
        ) AS campaigns_missing
    FROM campaign_days AS cd
    GROUP BY cd.analytics_date
)

SELECT
    pd.analytics_date,
    pd.campaigns_missing,
    pd.campaigns_with_sends
FROM per_day AS pd
WHERE pd.campaigns_missing > 0
ORDER BY pd.analytics_date ASC;
