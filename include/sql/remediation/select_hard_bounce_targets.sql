-- Runbook Issue 3 "High Bounce Rate": what one run of the daily fix may change, counted and
-- listed in one snapshot (plugins/nurture_ops/alerting/remediation.py, HardBounceFix.count).
-- Params: max_rows (integer): the run's cap on leads + enrollments.
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
-- One row:
--   leads_to_invalidate      leads to invalidate (the rule), as count_hard_bounce_leads.sql
--   enrollments_to_complete  their 'active' or 'paused' enrollments and those of leads already
--                            marked invalid, as count_hard_bounce_leads.sql
--   lead_ids, enrollment_ids those rows' ids (bigint[], ascending) when the two counts add up to
--                            max_rows or less, else NULL (over the cap nothing is listed). The run
--                            changes these ids and no others (invalidate_hard_bounce_targets.sql).
WITH leads_to_invalidate AS (
    SELECT l.id
    FROM leads AS l
    WHERE
        (l.metadata ->> 'email_invalid') IS DISTINCT FROM 'true'
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
),

enrollments_to_complete AS (
    SELECT lce.id
    FROM lead_campaign_enrollments AS lce
    WHERE
        lce.status IN ('active', 'paused')
        AND (
            lce.lead_id IN (SELECT t.id FROM leads_to_invalidate AS t)
            OR lce.lead_id IN (
                SELECT l.id
                FROM leads AS l
                WHERE l.metadata ->> 'email_invalid' = 'true'
            )
        )
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
