-- Database Responding Slowly: the probe latencies of the last runs, as recorded with the check's
-- last evaluation (alert_state.last_value -> 'latency_history': [[evaluated_at, query_ms], ...],
-- newest last). No row before the check's first evaluation. Params: alert_key (text).
SELECT s.last_value -> 'latency_history' AS latency_history
FROM {{ schema }}.alert_state AS s
WHERE
    s.alert_key = CAST({{ bind("alert_key") }} AS text)
    AND s.scope = ''
