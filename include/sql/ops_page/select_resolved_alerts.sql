-- The Lead Nurture page: the alerts resolved most recently (what Slack last heard was [RESOLVED]).
-- Params: max_rows (integer).
SELECT
    s.alert_key,
    s.scope,
    s.last_summary,
    s.last_notified_at AS resolved_at,
    s.last_evaluated_run
FROM {{ schema }}.alert_state AS s
WHERE NOT s.firing AND s.notified_state = 'resolved'
ORDER BY s.last_notified_at DESC, s.alert_key, s.scope
LIMIT {{ bind("max_rows") }}
