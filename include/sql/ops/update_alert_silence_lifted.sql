-- Lift a silence before its end: it ends at the lift (never before it started, as the table's
-- CHECK (ends_at > starts_at) requires) and records by whom and why. Only a silence still in force
-- at that instant is lifted; returns it.
-- Params: lifted_at (timestamptz), lifted_by (text), lift_reason (text), silence_id (bigint).
UPDATE {{ schema }}.alert_silences
SET
    ends_at = GREATEST(starts_at + interval '1 second', {{ bind("lifted_at") }}),
    lifted_at = {{ bind("lifted_at") }},
    lifted_by = {{ bind("lifted_by") }},
    lift_reason = {{ bind("lift_reason") }}
WHERE
    id = CAST({{ bind("silence_id") }} AS bigint)
    AND ends_at > {{ bind("lifted_at") }}
RETURNING id, alert_key, scope, starts_at, ends_at
