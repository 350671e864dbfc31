-- Alert states a channel may have to hear about (state.deliver_pages / state.escalate): for
-- 'pagerduty' those firing or still triggered there, for 'escalation' those firing. What is due
-- is decided in Python on these rows (state.page_action, state.escalation_due), again under the
-- delivery row's lock before sending. alert_state holds a few hundred rows at most.
-- Params: channel (text), alert_keys (text[]): the catalog's checks.
SELECT
    s.alert_key,
    s.scope,
    s.firing,
    s.severity,
    s.status,
    s.silenced,
    s.inhibited_by,
    s.first_fired_at,
    s.last_summary,
    s.last_value,
    s.last_evaluated_at,
    s.acknowledged_at,
    s.acknowledged_severity,
    d.delivered_state,
    d.episode,
    d.dedup_key
FROM {{ schema }}.alert_state AS s
LEFT JOIN {{ schema }}.alert_deliveries AS d
    ON
        s.alert_key = d.alert_key
        AND s.scope = d.scope
        AND d.channel = CAST({{ bind("channel") }} AS text)
WHERE
    s.alert_key = ANY(CAST({{ bind("alert_keys") }} AS text[]))
    AND (s.firing OR d.delivered_state = 'triggered')
ORDER BY s.alert_key, s.scope
