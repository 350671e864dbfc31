-- Withdraw an intent to send after Slack did not accept the message (nurture_ops.alerting.state),
-- so that the next evaluation or retry sends it at once. Compare-and-set: only the holder's
-- intent is withdrawn (a run that took it over keeps it). Returns one row when it was withdrawn.
-- Params: token (uuid), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
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
