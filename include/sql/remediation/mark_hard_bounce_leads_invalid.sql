-- Runbook Issue 3 "High Bounce Rate": "Mark emails as invalid for hard bounces".
-- Params: changed_at (timestamptz): written to leads.updated_at.
-- Sets metadata.email_invalid = true on leads with a hard bounce (bounce_type = 'hard') not yet
-- marked. Soft bounces (SendGrid 'blocked') never invalidate. Idempotent: a second run updates
-- nothing. Returns the updated lead ids (one row each) so the caller counts and audits them.
UPDATE leads AS l
SET
    metadata = JSONB_SET(COALESCE(l.metadata, CAST('{}' AS jsonb)), '{email_invalid}', CAST('true' AS jsonb)),
    updated_at = CAST({{ bind("changed_at") }} AS timestamptz)
WHERE
    l.id IN (
        SELECT es.lead_id
        FROM email_sends AS es
        WHERE es.bounce_type = 'hard'
    )
    AND (l.metadata ->> 'email_invalid') IS DISTINCT FROM 'true'
RETURNING l.id;
