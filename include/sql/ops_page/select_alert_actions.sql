-- The Lead Nurture page: the latest operator actions (silence, lift, acknowledge).
-- Params: max_rows (integer). Newest first.
SELECT
    a.id,
    a.alert_key,
    a.scope,
    a.action,
    a.actor,
    a.reason,
    a.detail,
    a.acted_at,
    a.announced_at
FROM {{ schema }}.alert_actions AS a
ORDER BY a.acted_at DESC, a.id DESC
LIMIT {{ bind("max_rows") }}
