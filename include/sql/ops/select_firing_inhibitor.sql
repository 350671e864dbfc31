-- Whether a root cause (a catalog Inhibition) is firing, as recorded in alert_state: one row
-- (its alert_key) when it is, none otherwise.
-- Params: root (text): the root alert's key; cause (text or NULL): when given, the root counts
--         only while its last summary contains this text (e.g. the name of one workflow).
SELECT alert_key
FROM {{ schema }}.alert_state
WHERE
    alert_key = CAST({{ bind("root") }} AS text)
    AND firing
    AND (CAST({{ bind("cause") }} AS text) IS NULL OR STRPOS(last_summary, {{ bind("cause") }}) > 0)
ORDER BY scope
LIMIT 1
