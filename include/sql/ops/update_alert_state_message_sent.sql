-- Record that a message without a resolve (a task failure) was sent
-- (nurture_ops.alerting.state.send_unless_repeated), under the row lock of lock_alert_state.sql:
-- the same text is held back until the repeat interval has passed.
-- Params: text (text): the message, sent_at (timestamptz), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    last_summary = {{ bind("text") }},
    last_notified_at = {{ bind("sent_at") }},
    last_evaluated_at = {{ bind("sent_at") }},
    firing = TRUE,
    status = 'critical',
    notifications_sent = notifications_sent + 1
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
