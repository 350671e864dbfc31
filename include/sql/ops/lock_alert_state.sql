-- Lock an alert's state row until the transaction ends and return it (every column): what Slack
-- last heard and the last evaluation, decided against without an overlapping run in between;
-- plus sending_age, the age (database clock) of a pending intent to send (NULL when none).
-- Params: alert_key (text), scope (text). Run after insert_alert_state.sql in the same transaction.
SELECT
    *,
    CLOCK_TIMESTAMP() - sending_since AS sending_age
FROM {{ schema }}.alert_state
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
FOR UPDATE
