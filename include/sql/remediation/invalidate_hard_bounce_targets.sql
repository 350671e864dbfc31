-- Runbook Issue 3 "High Bounce Rate": the daily fix's change, bounded by what its count listed
-- (plugins/nurture_ops/alerting/remediation.py, HardBounceFix.apply).
-- Params: changed_at (timestamptz): written to leads.updated_at and to the enrollments'
--         completed_at and updated_at;
--         lead_ids, enrollment_ids (bigint[]): what select_hard_bounce_targets.sql listed.
-- Only listed rows change, so no more rows than were counted (and held to the cap) ever change:
-- rows arriving after the count wait for the next run. Each listed row is re-checked when it is
-- locked, and a row someone else holds at that moment (ops fixing the lead) is skipped, not waited
-- for (SKIP LOCKED): a lead reset after the count, or being reset, is left as the human leaves it.
--   leads        still to invalidate by the rule: metadata.email_invalid = true (other keys kept)
--   enrollments  still 'active' or 'paused', of a lead marked here or of one still marked invalid
--                (locked FOR SHARE: a lead being reset is skipped with its enrollments): become
--                'completed' with completion_reason 'invalid_email'
-- The rule (which leads, which enrollments): include/sql/macros/hard_bounce.sql.
-- Returns one row per changed row: changed ('lead' or 'enrollment'), id, lead_id.
{% import "macros/hard_bounce.sql" as hard_bounce %}
WITH leads_to_mark AS MATERIALIZED (
    SELECT l.id
    FROM leads AS l
    WHERE
        l.id = ANY(CAST({{ bind("lead_ids") }} AS bigint[]))
        AND {{ hard_bounce.lead_to_invalidate("l") }}
    ORDER BY l.id
    FOR UPDATE SKIP LOCKED
),

marked AS (
    UPDATE leads AS l
    SET
        metadata = JSONB_SET(
            COALESCE(l.metadata, CAST('{}' AS jsonb)), '{email_invalid}', CAST('true' AS jsonb)
        ),
        updated_at = CAST({{ bind("changed_at") }} AS timestamptz)
    FROM leads_to_mark AS m
    WHERE l.id = m.id
    RETURNING l.id
),

invalid_leads AS MATERIALIZED (
    SELECT l.id
    FROM leads AS l
    WHERE
        l.metadata ->> 'email_invalid' = 'true'
        AND l.id IN (
            SELECT e.lead_id
            FROM lead_campaign_enrollments AS e
            WHERE e.id = ANY(CAST({{ bind("enrollment_ids") }} AS bigint[]))
        )
    ORDER BY l.id
    FOR SHARE SKIP LOCKED
),

enrollments_to_complete AS MATERIALIZED (
    SELECT lce.id
    FROM lead_campaign_enrollments AS lce
    WHERE
        lce.id = ANY(CAST({{ bind("enrollment_ids") }} AS bigint[]))
        AND lce.status IN ('active', 'paused')
        AND (
            lce.lead_id IN (SELECT m.id FROM marked AS m)
            OR lce.lead_id IN (SELECT i.id FROM invalid_leads AS i)
        )
    ORDER BY lce.id
    FOR UPDATE OF lce SKIP LOCKED
),

completed AS (
    UPDATE lead_campaign_enrollments AS lce
    SET
        status = 'completed',
        completion_reason = 'invalid_email',
        completed_at = CAST({{ bind("changed_at") }} AS timestamptz),
        updated_at = CAST({{ bind("changed_at") }} AS timestamptz)
    FROM enrollments_to_complete AS e
    WHERE lce.id = e.id
    RETURNING lce.id, lce.lead_id
)

SELECT
    'lead' AS changed,
    m.id,
    m.id AS lead_id
FROM marked AS m
UNION ALL
SELECT
    'enrollment' AS changed,
    c.id,
    c.lead_id
FROM completed AS c
ORDER BY changed DESC, id ASC;
