-- Mark an alert notified once Slack accepted the message (nurture_ops.alerting.state.deliver),
-- under the row lock of lock_alert_state.sql.
-- Params: notified_state (text: 'firing' or 'resolved'), notified_severity (text or NULL),
--         notified_at (timestamptz): the evaluation the message was decided on,
--         notified_value (jsonb text or NULL): what renotify_on_change compares with next time,
--         alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    notified_state = {{ bind("notified_state") }},
    notified_severity = {{ bind("notified_severity") }},
    last_notified_at = {{ bind("notified_at") }},
    notified_value = {{ bind("notified_value") }},
    notifications_sent = notifications_sent + 1
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
