-- Operator actions reported by a Slack message that was accepted.
-- Params: ids (bigint[]), announced_at (timestamptz).
UPDATE {{ schema }}.alert_actions
SET announced_at = {{ bind("announced_at") }}
WHERE id = ANY(CAST({{ bind("ids") }} AS bigint[]))
