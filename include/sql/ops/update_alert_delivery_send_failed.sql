-- Withdraw an intent to deliver after the channel did not accept it, so that the next run
-- delivers at once. Compare-and-set on the token. Params: token (uuid), alert_key, scope, channel.
UPDATE {{ schema }}.alert_deliveries
SET
    sending_token = NULL,
    sending_since = NULL,
    sending_kind = NULL,
    sending_run = NULL
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND channel = CAST({{ bind("channel") }} AS text)
    AND sending_token = CAST({{ bind("token") }} AS uuid)
RETURNING alert_key
