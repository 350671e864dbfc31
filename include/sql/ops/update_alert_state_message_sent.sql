-- Record that a message without a resolve (a task failure) was sent
-- (nurture_ops.alerting.state.send_unless_repeated) and withdraw the intent to send: the same text
-- is held back until the repeat interval has passed. Compare-and-set on the intent's token (no row
-- changes when another run took the intent over). Returns one row when it was recorded.
-- Params: text (text): the message, sent_at (timestamptz), token (uuid), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    last_summary = {{ bind("text") }},
    last_notified_at = {{ bind("sent_at") }},
    last_evaluated_at = {{ bind("sent_at") }},
    firing = TRUE,
    status = 'critical',
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
