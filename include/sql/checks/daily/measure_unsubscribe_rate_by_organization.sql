-- Runbook 2 "High Unsubscribe Rate" per organization (core/per_organization.py), for one day,
-- with the rules of measure_unsubscribe_rate.sql: sends with actual_send_time in the day;
-- unsubscribes are sends with an 'unsubscribe' or 'group_unsubscribe' event whose
-- event_timestamp is in the day, each send counted once. One GROUP BY organization_id each.
-- One row per organization with sends in the day, ordered by id:
--   organization_id (text), organization_name, emails_sent, unsubscribes,
--   unsubscribe_rate (unsubscribes * 100 / emails_sent, 2 decimals)
WITH day_sends AS (
    SELECT
        es.organization_id,
        COUNT(*) AS emails_sent
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.organization_id
),

day_unsubscribes AS (
    SELECT
        es.organization_id,
        COUNT(DISTINCT ev.email_send_id) AS unsubscribes
    FROM email_events AS ev
    INNER JOIN email_sends AS es ON ev.email_send_id = es.id
    WHERE
        ev.event_type IN ('unsubscribe', 'group_unsubscribe')
        AND ev.event_timestamp >= CAST({{ bind("day_start") }} AS timestamptz)
        AND ev.event_timestamp < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.organization_id
)

SELECT
    o.name AS organization_name,
    CAST(ds.organization_id AS text) AS organization_id,
    ds.emails_sent,
    COALESCE(du.unsubscribes, 0) AS unsubscribes,
    ROUND(COALESCE(du.unsubscribes, 0) * 100.0 / ds.emails_sent, 2) AS unsubscribe_rate
FROM day_sends AS ds
INNER JOIN organizations AS o ON ds.organization_id = o.id
LEFT JOIN day_unsubscribes AS du ON ds.organization_id = du.organization_id
ORDER BY organization_id
