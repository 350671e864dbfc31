-- The record of an operator action on an alert (silence, lift, acknowledge): who, when, why.
-- Params: alert_key (text), scope (text or NULL: every scope), action (text), actor (text),
--         reason (text), detail (jsonb text), acted_at (timestamptz). Returns the new id.
INSERT INTO {{ schema }}.alert_actions (alert_key, scope, action, actor, reason, detail, acted_at)
VALUES (
    {{ bind("alert_key") }},
    {{ bind("scope") }},
    {{ bind("action") }},
    {{ bind("actor") }},
    {{ bind("reason") }},
    CAST({{ bind("detail") }} AS jsonb),
    {{ bind("acted_at") }}
)
RETURNING id
