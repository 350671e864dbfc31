-- One silence by id (the Lead Nurture page's lift: whose DAG it concerns).
-- Params: silence_id (bigint).
SELECT
    x.id AS silence_id,
    x.alert_key,
    x.scope,
    x.starts_at,
    x.ends_at
FROM {{ schema }}.alert_silences AS x
WHERE x.id = CAST({{ bind("silence_id") }} AS bigint)
