-- An acknowledgement ends: the alert resolved, or fired at a higher severity than acknowledged.
-- Params: alert_key (text), scope (text).
UPDATE {{ schema }}.alert_state
SET
    acknowledged_at = NULL,
    acknowledged_by = NULL,
    acknowledged_reason = NULL,
    acknowledged_severity = NULL
WHERE alert_key = CAST({{ bind("alert_key") }} AS text) AND scope = CAST({{ bind("scope") }} AS text)
