-- Record that a once-only report (e.g. the daily digest of one day) was sent
-- (nurture_ops.alerting.state.send_once) and withdraw the intent to send: from now on
-- notified_state is set, so it is not sent again. Compare-and-set on the intent's token (no row
-- changes when another run took the intent over). Returns one row when it was recorded.
-- Params: sent_at (timestamptz): the run's evaluation time, text (text): the message,
--         token (uuid), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    notified_state = 'resolved',
    last_notified_at = {{ bind("sent_at") }},
    last_evaluated_at = {{ bind("sent_at") }},
    last_summary = {{ bind("text") }},
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
