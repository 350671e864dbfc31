-- The silence covering an alert at one instant, if any: the one that ends last.
-- Params: alert_key (text), scope (text; a silence with scope NULL covers every scope),
--         at (timestamptz): the evaluation time (a silence covers [starts_at, ends_at)).
SELECT *
FROM {{ schema }}.alert_silences
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND (scope IS NULL OR scope = CAST({{ bind("scope") }} AS text))
    AND starts_at <= {{ bind("at") }}
    AND ends_at > {{ bind("at") }}
ORDER BY ends_at DESC
LIMIT 1
