-- High Email Failure Rate per organization (core/per_organization.py): the same window as
-- measure_email_failure_rate.sql, sends created in [window_start, window_end), in one
-- GROUP BY organization_id for every organization (never one query per organization).
-- One row per organization with sends in the window, ordered by id:
--   organization_id (text), organization_name, total, failed,
--   failure_rate (failed * 100 / total, 1 decimal)
SELECT
    o.name AS organization_name,
    CAST(es.organization_id AS text) AS organization_id,
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE es.send_status = 'failed') AS failed,
    ROUND(COUNT(*) FILTER (WHERE es.send_status = 'failed') * 100.0 / COUNT(*), 1) AS failure_rate
FROM email_sends AS es
INNER JOIN organizations AS o ON es.organization_id = o.id
WHERE
    es.created_at >= {{ bind("window_start") }}
    AND es.created_at < {{ bind("window_end") }}
GROUP BY es.organization_id, o.name
ORDER BY organization_id
