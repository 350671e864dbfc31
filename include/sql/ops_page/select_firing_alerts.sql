-- The Lead Nurture page's alert board: every alert (and scope) firing now, most severe and
-- oldest first, with the silence in force at `at` (the one that ends last) and the acknowledgement.
-- Params: at (timestamptz): the page's instant.
SELECT
    s.alert_key,
    s.scope,
    s.severity,
    s.status,
    s.first_fired_at,
    s.last_evaluated_at,
    s.last_value,
    s.last_summary,
    s.inhibited_by,
    s.notified_state,
    s.last_notified_at,
    s.last_evaluated_run,
    s.acknowledged_at,
    s.acknowledged_by,
    s.acknowledged_reason,
    s.acknowledged_severity,
    si.id AS silence_id,
    si.scope AS silence_scope,
    si.ends_at AS silenced_until,
    si.created_by AS silenced_by,
    si.reason AS silence_reason,
    si.starts_at AS silenced_at
FROM {{ schema }}.alert_state AS s
LEFT JOIN LATERAL (
    SELECT
        x.id,
        x.scope,
        x.ends_at,
        x.created_by,
        x.reason,
        x.starts_at
    FROM {{ schema }}.alert_silences AS x
    WHERE
        x.alert_key = s.alert_key
        AND (x.scope IS NULL OR x.scope = s.scope)
        AND x.starts_at <= {{ bind("at") }}
        AND x.ends_at > {{ bind("at") }}
    ORDER BY x.ends_at DESC
    LIMIT 1
) AS si ON TRUE
WHERE s.firing
ORDER BY
    CASE s.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
    s.first_fired_at,
    s.alert_key,
    s.scope
