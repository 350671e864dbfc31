-- Mark an alert notified once Slack accepted the message (nurture_ops.alerting.state.deliver) and
-- withdraw the intent to send. Compare-and-set on the intent's token: no row changes when another
-- run took the intent over meanwhile (then that run marks it). Returns one row when it was marked.
-- Params: notified_state (text: 'firing' or 'resolved'), notified_severity (text or NULL),
--         notified_at (timestamptz): the evaluation the message was decided on,
--         notified_value (jsonb text or NULL): what renotify_on_change compares with next time,
--         token (uuid): the intent recorded by update_alert_state_sending.sql, alert_key, scope (text).
UPDATE {{ schema }}.alert_state
SET
    notified_state = {{ bind("notified_state") }},
    notified_severity = {{ bind("notified_severity") }},
    last_notified_at = {{ bind("notified_at") }},
    notified_value = {{ bind("notified_value") }},
    notifications_sent = notifications_sent + 1,
    sending_token = NULL,
    sending_since = NULL,
    sending_kind = NULL,
    sending_text = NULL,
    sending_run = NULL
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND sending_token = CAST({{ bind("token") }} AS uuid)
RETURNING alert_key
