-- Runbook Issue 3 "High Bounce Rate": "Stop campaigns for bounced leads", by hand (the catalog's
-- manual step when a run is over its cap, after mark_hard_bounce_leads_invalid.sql; the daily fix
-- itself runs invalidate_hard_bounce_targets.sql, bounded by what it counted).
-- Params: changed_at (timestamptz): written to completed_at and updated_at.
-- Enrollments still 'active' or 'paused' of leads marked metadata->>'email_invalid' = 'true'
-- become 'completed' with completion_reason 'invalid_email'. A lead ops have reset
-- (reset_lead_email.sql: email_invalid = false) is not marked, so its new enrollments stay.
-- Idempotent: completed enrollments are left alone. Returns one row per updated enrollment: id,
-- lead_id, campaign_id.
UPDATE lead_campaign_enrollments AS lce
SET
    status = 'completed',
    completion_reason = 'invalid_email',
    completed_at = CAST({{ bind("changed_at") }} AS timestamptz),
    updated_at = CAST({{ bind("changed_at") }} AS timestamptz)
WHERE
    lce.status IN ('active', 'paused')
    AND lce.lead_id IN (
        SELECT l.id
        FROM leads AS l
        WHERE l.metadata ->> 'email_invalid' = 'true'
    )
RETURNING lce.id, lce.lead_id, lce.campaign_id;
