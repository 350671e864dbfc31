-- End a silence at an instant (never before it started: a silence lasts at least one second,
-- as the table's CHECK (ends_at > starts_at) requires).
-- Params: ends_at (timestamptz), silence_id (bigint).
UPDATE {{ schema }}.alert_silences
SET ends_at = GREATEST(starts_at + interval '1 second', {{ bind("ends_at") }})
WHERE id = CAST({{ bind("silence_id") }} AS bigint)
