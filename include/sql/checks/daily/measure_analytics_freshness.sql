-- Runbook Issue 5 "Campaign Analytics Not Updating".
-- Params: lookback_start, day (date): the analytics days to verify, inclusive. Days are UTC days
-- ([D 00:00 UTC, D+1 00:00 UTC) of email_sends.actual_send_time), as the rollup writes them.
-- A day is missing when a campaign sent that day but has no campaign_analytics row for it: the
-- rule and its cost are in include/sql/macros/missing_analytics.sql, shared with the gap filler
-- analytics/list_missing_analytics_days.sql.
-- One row:
--   latest_analytics_date  MAX(campaign_analytics.analytics_date), all rows (NULL: table empty)
--   days_behind            day - latest_analytics_date, in days (NULL when the table is empty);
--                          0 when the checked day is rolled up
--   missing_days           days in [lookback_start, day] with a missing campaign row
--   details                jsonb array, at most 10 missing days, newest first:
--                          {analytics_date, campaigns_missing, campaigns_with_sends}
{% import "macros/missing_analytics.sql" as missing_analytics %}
WITH {{ missing_analytics.per_day_ctes() }},

missing AS (
    SELECT
        pd.analytics_date,
        pd.campaigns_missing,
        pd.campaigns_with_sends
    FROM per_day AS pd
    WHERE pd.campaigns_missing > 0
),

latest AS (
    SELECT MAX(ca.analytics_date) AS latest_analytics_date
    FROM campaign_analytics AS ca
)

SELECT
    lt.latest_analytics_date,
    CAST({{ bind("day") }} AS date) - lt.latest_analytics_date AS days_behind,
    (SELECT COUNT(*) FROM missing) AS missing_days,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'analytics_date', m.analytics_date,
                        'campaigns_missing', m.campaigns_missing,
                        'campaigns_with_sends', m.campaigns_with_sends
                    )
                    ORDER BY m.analytics_date DESC
                ),
                CAST('[]' AS jsonb)
            )
        FROM (
            SELECT *
            FROM missing
            ORDER BY missing.analytics_date DESC
            LIMIT 10
        ) AS m
    ) AS details
FROM latest AS lt;
