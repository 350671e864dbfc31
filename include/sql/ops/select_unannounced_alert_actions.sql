-- Operator actions on an alert that no Slack message has reported yet, oldest first.
-- Params: alert_key (text), scope (text; an action with scope NULL concerns every scope).
SELECT
    id,
    alert_key,
    scope,
    action,
    actor,
    reason,
    detail,
    acted_at
FROM {{ schema }}.alert_actions
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND (scope IS NULL OR scope = CAST({{ bind("scope") }} AS text))
    AND announced_at IS NULL
ORDER BY acted_at, id
