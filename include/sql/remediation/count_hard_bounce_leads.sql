-- Runbook Issue 3 "High Bounce Rate" remediation, counted before it is applied.
-- Params: none.
-- One row:
--   leads_to_invalidate      leads with a hard bounce (email_sends.bounce_type = 'hard', any day)
--                            whose metadata->>'email_invalid' is not yet 'true': what
--                            mark_hard_bounce_leads_invalid.sql would update
--   enrollments_to_complete  'active' or 'paused' enrollments of leads that are marked invalid or
--                            about to be: what complete_invalid_email_enrollments.sql would update
--                            once the marking ran
WITH hard_bounce_leads AS (
    SELECT DISTINCT es.lead_id
    FROM email_sends AS es
    WHERE es.bounce_type = 'hard'
)

SELECT
    (
        SELECT COUNT(*)
        FROM leads AS l
        WHERE
            l.id IN (SELECT h.lead_id FROM hard_bounce_leads AS h)
            AND (l.metadata ->> 'email_invalid') IS DISTINCT FROM 'true'
    ) AS leads_to_invalidate,
    (
        SELECT COUNT(*)
        FROM lead_campaign_enrollments AS lce
        WHERE
            lce.status IN ('active', 'paused')
            AND (
                lce.lead_id IN (SELECT h.lead_id FROM hard_bounce_leads AS h)
                OR lce.lead_id IN (
                    SELECT l.id
                    FROM leads AS l
                    WHERE l.metadata ->> 'email_invalid' = 'true'
                )
            )
    ) AS enrollments_to_complete;
