-- Lock one delivery row (alert_deliveries) until the transaction ends and return it with the
-- alert state it delivers (what state.page_action / state.escalation_due decide on) and
-- sending_age, the age (database clock) of a pending intent (NULL when none).
-- Params: alert_key, scope, channel (text). Run after insert_alert_delivery.sql.
SELECT
    d.alert_key,
    d.scope,
    d.channel,
    d.delivered_state,
    d.episode,
    d.dedup_key,
    d.sending_token,
    d.sending_kind,
    d.sending_run,
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
    CLOCK_TIMESTAMP() - d.sending_since AS sending_age
FROM {{ schema }}.alert_deliveries AS d
INNER JOIN {{ schema }}.alert_state AS s ON d.alert_key = s.alert_key AND d.scope = s.scope
WHERE
    d.alert_key = CAST({{ bind("alert_key") }} AS text)
    AND d.scope = CAST({{ bind("scope") }} AS text)
    AND d.channel = CAST({{ bind("channel") }} AS text)
FOR UPDATE OF d
