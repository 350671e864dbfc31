-- Runbook Issue 3 "High Bounce Rate": "Mark emails as invalid for hard bounces", every lead the
-- rule names, by hand (the catalog's manual step when a run is over its cap; the daily fix
-- itself runs invalidate_hard_bounce_targets.sql, bounded by what it counted).
-- Params: changed_at (timestamptz): written to leads.updated_at.
-- The rule (which leads, which enrollments): include/sql/macros/hard_bounce.sql.
-- Sets metadata.email_invalid = true (other keys kept) on those leads. Idempotent: a second run
-- updates nothing. Returns the updated lead ids (one row each) so the caller counts them.
{% import "macros/hard_bounce.sql" as hard_bounce %}
UPDATE leads AS l
SET
    metadata = JSONB_SET(COALESCE(l.metadata, CAST('{}' AS jsonb)), '{email_invalid}', CAST('true' AS jsonb)),
    updated_at = CAST({{ bind("changed_at") }} AS timestamptz)
WHERE
    {{ hard_bounce.lead_to_invalidate("l") }}
RETURNING l.id;
