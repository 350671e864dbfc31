-- The record of one message that reached Slack (in the transaction that marks it sent).
-- Params: alert_key (text), scope (text), kind (text: fire, remind, resolve or report),
--         severity (text or NULL), text (text): the message, slack_conn_id (text),
--         dag_id, run_id (text or NULL): who sent it, evaluated_at (timestamptz).
INSERT INTO {{ schema }}.alert_notifications (
    alert_key, scope, kind, severity, text, slack_conn_id, dag_id, run_id, evaluated_at
)
VALUES (
    {{ bind("alert_key") }},
    {{ bind("scope") }},
    {{ bind("kind") }},
    {{ bind("severity") }},
    {{ bind("text") }},
    {{ bind("slack_conn_id") }},
    {{ bind("dag_id") }},
    {{ bind("run_id") }},
    {{ bind("evaluated_at") }}
)
