-- Runbook Issue 3 "High Bounce Rate": what ops run when they fix a lead's address (or find its
-- old one was fine after all), so that the daily bounce fix does not undo it.
-- Params: lead_id (bigint): the lead;
--         email (text): its new address; NULL keeps the current one;
--         reset_at (timestamptz): when the address became valid, normally now().
-- Sets leads.email, metadata.email_invalid = false and metadata.email_valid_since = reset_at
-- (ISO 8601 with its offset; other metadata keys kept), updated_at = reset_at. From then on only
-- hard bounces of sends at or after reset_at count against the lead (count_hard_bounce_leads.sql
-- has the rule). Enrollments are not touched: enroll the lead again as usual.
-- Returns the lead as it now is: id, email, metadata (no row: no lead with that id).
UPDATE leads AS l
SET
    email = COALESCE(CAST({{ bind("email") }} AS text), l.email),
    metadata = COALESCE(l.metadata, CAST('{}' AS jsonb))
    || JSONB_BUILD_OBJECT(
        'email_invalid', FALSE,
        'email_valid_since', CAST({{ bind("reset_at") }} AS timestamptz)
    ),
    updated_at = CAST({{ bind("reset_at") }} AS timestamptz)
WHERE l.id = CAST({{ bind("lead_id") }} AS bigint)
RETURNING l.id, l.email, l.metadata;
