-- Acknowledge a firing alert (the Lead Nurture page): reminders stop until it resolves or fires at
-- a higher severity than the one acknowledged (nurture_ops.alerting.state.acknowledge).
-- Params: acknowledged_at (timestamptz), acknowledged_by (text), acknowledged_reason (text),
--         alert_key (text), scope (text). Only a firing row changes; returns it.
UPDATE {{ schema }}.alert_state
SET
    acknowledged_at = {{ bind("acknowledged_at") }},
    acknowledged_by = {{ bind("acknowledged_by") }},
    acknowledged_reason = {{ bind("acknowledged_reason") }},
    acknowledged_severity = severity
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND firing
RETURNING alert_key, scope, severity, acknowledged_at, acknowledged_by
