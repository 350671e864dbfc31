-- Record the intent to send one message (nurture_ops.alerting.state), under the row lock of
-- lock_alert_state.sql, after the caller checked that no overlapping run delivered it and that no
-- fresh intent of another run is pending (a stale one is overwritten: taken over). Committed before
-- the post; the mark that follows it compares sending_token.
-- Params: token (uuid), kind (text: fire, remind, resolve, report or message), text (text),
--         run (text or NULL: '<dag_id>/<run_id>'), alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    sending_token = CAST({{ bind("token") }} AS uuid),
    sending_since = CLOCK_TIMESTAMP(),
    sending_kind = {{ bind("kind") }},
    sending_text = {{ bind("text") }},
    sending_run = {{ bind("run") }}
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
