-- The Lead Nurture page: silences in force at `at` (liftable), ending soonest first.
-- Params: at (timestamptz).
SELECT
    x.id AS silence_id,
    x.alert_key,
    x.scope,
    x.starts_at,
    x.ends_at,
    x.reason,
    x.created_by
FROM {{ schema }}.alert_silences AS x
WHERE x.starts_at <= {{ bind("at") }} AND x.ends_at > {{ bind("at") }}
ORDER BY x.ends_at, x.id
