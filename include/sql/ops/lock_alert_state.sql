-- Lock an alert's state row until the transaction ends and return it (every column): what Slack
-- last heard and the last evaluation, decided against without an overlapping run in between.
-- Params: alert_key (text), scope (text). Run after insert_alert_state.sql in the same transaction.
SELECT *
FROM {{ schema }}.alert_state
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
FOR UPDATE
