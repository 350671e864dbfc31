-- Record one evaluation of an alert (nurture_ops.alerting.state.record), under the row lock of
-- lock_alert_state.sql. Touches only the evaluation columns; what Slack heard is written by
-- update_alert_state_notified.sql once a message was delivered.
-- Params: firing (boolean), status (text), severity (text), first_fired_at (timestamptz or NULL),
--         evaluated_at (timestamptz), last_value (jsonb text: the metrics), last_summary (text),
--         inhibited_by (text or NULL), silenced (boolean), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    firing = {{ bind("firing") }},
    status = {{ bind("status") }},
    severity = {{ bind("severity") }},
    first_fired_at = {{ bind("first_fired_at") }},
    last_evaluated_at = {{ bind("evaluated_at") }},
    last_value = {{ bind("last_value") }},
    last_summary = {{ bind("last_summary") }},
    inhibited_by = {{ bind("inhibited_by") }},
    silenced = {{ bind("silenced") }}
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
