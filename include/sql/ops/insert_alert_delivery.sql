-- Make sure an alert state has its delivery row for one channel, so that
-- lock_alert_delivery.sql finds one to lock. Params: alert_key, scope, channel (text).
INSERT INTO {{ schema }}.alert_deliveries (alert_key, scope, channel)
VALUES ({{ bind("alert_key") }}, {{ bind("scope") }}, {{ bind("channel") }})
ON CONFLICT DO NOTHING
