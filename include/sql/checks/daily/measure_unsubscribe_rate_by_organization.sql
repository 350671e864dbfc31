-- Runbook 2 "High Unsubscribe Rate" per organization (core/per_organization.py), for one day,
-- with the rule of the global check (include/sql/macros/unsubscribes.sql, shared with
-- measure_unsubscribe_rate.sql): sends with actual_send_time in the day; unsubscribes are sends
-- with an unsubscribe event in the day, each send counted once. One GROUP BY organization_id each.
-- One row per organization with sends in the day, ordered by id:
--   organization_id (text), organization_name, emails_sent, unsubscribes,
--   unsubscribe_rate (unsubscribes * 100 / emails_sent, 2 decimals)
{% import "macros/unsubscribes.sql" as unsubscribes %}
-- The day's counts (the rule): include/sql/macros/unsubscribes.sql.
WITH {{ unsubscribes.day_ctes("organization_id") }}

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
