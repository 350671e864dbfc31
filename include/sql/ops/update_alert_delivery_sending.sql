-- Record the intent to deliver (a PagerDuty event, an escalation), under the row lock of
-- lock_alert_delivery.sql; committed before the call, compared by the mark that follows it.
-- Params: token (uuid), kind (text: trigger, resolve or escalate), run (text or NULL),
--         alert_key, scope, channel (text).
UPDATE {{ schema }}.alert_deliveries
SET
    sending_token = CAST({{ bind("token") }} AS uuid),
    sending_since = CLOCK_TIMESTAMP(),
    sending_kind = {{ bind("kind") }},
    sending_run = {{ bind("run") }}
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND channel = CAST({{ bind("channel") }} AS text)
