-- The acknowledgement of one alert scope, if any.
-- Params: alert_key (text), scope (text).
SELECT
    alert_key,
    scope,
    firing,
    severity,
    acknowledged_at,
    acknowledged_by,
    acknowledged_reason,
    acknowledged_severity
FROM {{ schema }}.alert_state
WHERE
    alert_key = CAST({{ bind("alert_key") }} AS text)
    AND scope = CAST({{ bind("scope") }} AS text)
    AND acknowledged_at IS NOT NULL
