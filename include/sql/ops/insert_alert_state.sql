-- Make sure an alert has its state row, so that lock_alert_state.sql finds one to lock.
-- Params: alert_key (text), scope (text; '' for a global alert).
-- A row that exists already is left as it is.
INSERT INTO {{ schema }}.alert_state (alert_key, scope)
VALUES ({{ bind("alert_key") }}, {{ bind("scope") }})
ON CONFLICT DO NOTHING
