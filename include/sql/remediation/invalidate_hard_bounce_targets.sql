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
-- The rule, the same in count_hard_bounce_leads.sql, select_hard_bounce_targets.sql,
-- invalidate_hard_bounce_targets.sql, mark_hard_bounce_leads_invalid.sql and
-- checks/daily/measure_bounce_rate.sql (tests/alerting/test_bounce_remediation_safety.py): a lead
-- is to invalidate when metadata->>'email_invalid' is not 'true' and it has a hard bounce
-- (email_sends.bounce_type = 'hard'; soft ones, SendGrid 'blocked', never count) that
--   - was sent (actual_send_time, else created_at) at or after metadata.email_valid_since, the
--     lead's last reset as ops record it (remediation/reset_lead_email.sql): an ISO 8601
--     timestamp, with an offset or 'Z' (without: the session's time zone). No marker (absent or
--     JSON null): any time counts. A marker that is no timestamp: nothing counts, the lead is
--     left alone;
--   - and went to the lead's current address: a bounce whose SendGrid event (email_events
--     'bounce' or 'dropped') names in payload.email another address than leads.email (compared
--     trimmed, lower-cased) does not count. No event, or none naming an address: it counts.
-- Returns one row per changed row: changed ('lead' or 'enrollment'), id, lead_id.
WITH leads_to_mark AS MATERIALIZED (
    SELECT l.id
    FROM leads AS l
    WHERE
        l.id = ANY(CAST({{ bind("lead_ids") }} AS bigint[]))
        AND (l.metadata ->> 'email_invalid') IS DISTINCT FROM 'true'
        AND EXISTS (
            SELECT 1
            FROM email_sends AS es
            WHERE
                es.lead_id = l.id
                AND es.bounce_type = 'hard'
                -- sent since the lead's last reset (none recorded: any time)
                AND (
                    l.metadata ->> 'email_valid_since' IS NULL
                    OR COALESCE(es.actual_send_time, es.created_at) >= CAST(
                        JSONB_PATH_QUERY_FIRST(
                            TO_JSONB(REGEXP_REPLACE(l.metadata ->> 'email_valid_since', '[Zz]$', '+00:00')),
                            '$.datetime()',
                            CAST('{}' AS jsonb),
                            TRUE
                        ) #>> '{}' AS timestamptz
                    )
                )
                -- to the lead's current address (the bounce event names another one: not counted)
                AND NOT EXISTS (
                    SELECT 1
                    FROM email_events AS ee
                    WHERE
                        ee.email_send_id = es.id
                        AND ee.event_type IN ('bounce', 'dropped')
                        AND LOWER(TRIM(ee.payload ->> 'email')) <> LOWER(TRIM(l.email))
                )
        )
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
