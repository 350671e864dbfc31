-- Silence an alert for [starts_at, ends_at): it is recorded but not sent meanwhile.
-- Params: alert_key (text), scope (text, or NULL for every scope), starts_at, ends_at
--         (timestamptz; ends_at after starts_at), reason (text), created_by (text).
-- Returns the new silence's id.
INSERT INTO {{ schema }}.alert_silences (alert_key, scope, starts_at, ends_at, reason, created_by)
VALUES (
    {{ bind("alert_key") }},
    {{ bind("scope") }},
    {{ bind("starts_at") }},
    {{ bind("ends_at") }},
    {{ bind("reason") }},
    {{ bind("created_by") }}
)
RETURNING id
