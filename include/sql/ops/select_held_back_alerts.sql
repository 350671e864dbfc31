-- Alerts firing now but inhibited by a root alert, to be named in the root's message.
-- Params: root_key (text): the root alert's key.
SELECT
    alert_key,
    scope,
    last_summary
FROM {{ schema }}.alert_state
WHERE inhibited_by = CAST({{ bind("root_key") }} AS text) AND firing
ORDER BY alert_key, scope
