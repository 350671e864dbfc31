-- Record that a once-only report (e.g. the daily digest of one day) was sent
-- (nurture_ops.alerting.state.send_once), under the row lock of lock_alert_state.sql: from now on
-- notified_state is set, so it is not sent again.
-- Params: sent_at (timestamptz): the run's evaluation time, text (text): the message,
--         alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    notified_state = 'resolved',
    last_notified_at = {{ bind("sent_at") }},
    last_evaluated_at = {{ bind("sent_at") }},
    last_summary = {{ bind("text") }},
    notifications_sent = notifications_sent + 1
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
