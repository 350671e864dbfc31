-- Runbook Issue 3 "High Bounce Rate", approved over its cap (nurture_remediation_approval): one
-- capped batch of the fix, counted and listed in one snapshot (remediation.HardBounceBatchFix).
-- Params: max_rows (integer): the batch's cap on leads + enrollments.
-- The rule (which leads, which enrollments): include/sql/macros/hard_bounce.sql, as
-- select_hard_bounce_targets.sql. A batch is whole leads in id order, each with its enrollments
-- (a lead already marked invalid counts its open enrollments only), as many as fit in max_rows.
-- One row:
--   leads_to_invalidate, enrollments_to_complete  everything left to do (as count_hard_bounce_leads.sql)
--   batch_rows               leads + enrollments of this batch (<= max_rows)
--   lead_ids, enrollment_ids this batch's ids (bigint[], ascending), for invalidate_hard_bounce_targets.sql
--   first_too_big_lead       a lead whose rows alone exceed max_rows (the batch stops before it), or NULL
{% import "macros/hard_bounce.sql" as hard_bounce %}
WITH leads_to_invalidate AS (
    SELECT l.id
    FROM leads AS l
    WHERE
        {{ hard_bounce.lead_to_invalidate("l") }}
),

enrollments_to_complete AS (
    SELECT
        lce.id,
        lce.lead_id
    FROM lead_campaign_enrollments AS lce
    WHERE
        {{ hard_bounce.enrollment_to_complete("lce", "leads_to_invalidate") }}
),

per_lead AS (
    SELECT
        u.lead_id,
        SUM(u.n) AS n
    FROM (
        SELECT
            t.id AS lead_id,
            1 AS n
        FROM leads_to_invalidate AS t
        UNION ALL
        SELECT
            e.lead_id,
            1 AS n
        FROM enrollments_to_complete AS e
    ) AS u
    GROUP BY u.lead_id
),

running AS (
    SELECT
        p.lead_id,
        p.n,
        SUM(p.n) OVER (ORDER BY p.lead_id) AS total
    FROM per_lead AS p
),

batch AS (
    SELECT r.lead_id
    FROM running AS r
    WHERE r.total <= CAST({{ bind("max_rows") }} AS bigint)
)

SELECT
    (SELECT COUNT(*) FROM leads_to_invalidate) AS leads_to_invalidate,
    (SELECT COUNT(*) FROM enrollments_to_complete) AS enrollments_to_complete,
    (
        SELECT COALESCE(SUM(r.n), 0)
        FROM running AS r
        WHERE r.lead_id IN (SELECT b.lead_id FROM batch AS b)
    ) AS batch_rows,
    (
        SELECT COALESCE(ARRAY_AGG(t.id ORDER BY t.id), CAST('{}' AS bigint[]))
        FROM leads_to_invalidate AS t
        WHERE t.id IN (SELECT b.lead_id FROM batch AS b)
    ) AS lead_ids,
    (
        SELECT COALESCE(ARRAY_AGG(e.id ORDER BY e.id), CAST('{}' AS bigint[]))
        FROM enrollments_to_complete AS e
        WHERE e.lead_id IN (SELECT b.lead_id FROM batch AS b)
    ) AS enrollment_ids,
    (
        SELECT MIN(r.lead_id)
        FROM running AS r
        WHERE r.n > CAST({{ bind("max_rows") }} AS bigint)
    ) AS first_too_big_lead
