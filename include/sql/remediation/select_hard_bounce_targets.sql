-- Runbook Issue 3 "High Bounce Rate": what one run of the daily fix may change, counted and
-- listed in one snapshot (plugins/nurture_ops/alerting/remediation.py, HardBounceFix.count).
-- Params: max_rows (integer): the run's cap on leads + enrollments.
-- The rule (which leads, which enrollments): include/sql/macros/hard_bounce.sql.
-- One row:
--   leads_to_invalidate      leads to invalidate (the rule), as count_hard_bounce_leads.sql
--   enrollments_to_complete  their 'active' or 'paused' enrollments and those of leads already
--                            marked invalid, as count_hard_bounce_leads.sql
--   lead_ids, enrollment_ids those rows' ids (bigint[], ascending) when the two counts add up to
--                            max_rows or less, else NULL (over the cap nothing is listed). The run
--                            changes these ids and no others (invalidate_hard_bounce_targets.sql).
{% import "macros/hard_bounce.sql" as hard_bounce %}
WITH leads_to_invalidate AS (
    SELECT l.id
    FROM leads AS l
    WHERE
        {{ hard_bounce.lead_to_invalidate("l") }}
),

enrollments_to_complete AS (
    SELECT lce.id
    FROM lead_campaign_enrollments AS lce
    WHERE
        {{ hard_bounce.enrollment_to_complete("lce", "leads_to_invalidate") }}
),

counted AS (
    SELECT
        (SELECT COUNT(*) FROM leads_to_invalidate) AS leads_to_invalidate,
        (SELECT COUNT(*) FROM enrollments_to_complete) AS enrollments_to_complete
)

SELECT
    c.leads_to_invalidate,
    c.enrollments_to_complete,
    CASE
        WHEN c.leads_to_invalidate + c.enrollments_to_complete <= CAST({{ bind("max_rows") }} AS bigint)
            THEN (
                SELECT COALESCE(ARRAY_AGG(t.id ORDER BY t.id), CAST('{}' AS bigint[]))
                FROM leads_to_invalidate AS t
            )
    END AS lead_ids,
    CASE
        WHEN c.leads_to_invalidate + c.enrollments_to_complete <= CAST({{ bind("max_rows") }} AS bigint)
            THEN (
                SELECT COALESCE(ARRAY_AGG(e.id ORDER BY e.id), CAST('{}' AS bigint[]))
                FROM enrollments_to_complete AS e
            )
    END AS enrollment_ids
FROM counted AS c;
