-- Runbook Issue 3 "High Bounce Rate" remediation, counted before it is applied.
-- Params: none.
-- The rule (which leads, which enrollments): include/sql/macros/hard_bounce.sql.
-- One row:
--   leads_to_invalidate      leads to invalidate (the rule): what the daily fix would mark
--   enrollments_to_complete  'active' or 'paused' enrollments of leads that are marked invalid or
--                            about to be: what the daily fix would complete
-- The daily fix counts and lists the same rows with select_hard_bounce_targets.sql; the daily
-- check's metrics (checks/daily/measure_bounce_rate.sql) are these two counts.
{% import "macros/hard_bounce.sql" as hard_bounce %}
WITH leads_to_invalidate AS (
    SELECT l.id
    FROM leads AS l
    WHERE
        {{ hard_bounce.lead_to_invalidate("l") }}
)

SELECT
    (SELECT COUNT(*) FROM leads_to_invalidate) AS leads_to_invalidate,
    (
        SELECT COUNT(*)
        FROM lead_campaign_enrollments AS lce
        WHERE
            {{ hard_bounce.enrollment_to_complete("lce", "leads_to_invalidate") }}
    ) AS enrollments_to_complete;
