-- Runbook Issue 3 "High Bounce Rate" per organization (core/per_organization.py), for one day:
-- the sends of measure_bounce_rate.sql (actual_send_time in [day_start, day_end)) in one
-- GROUP BY organization_id for every organization.
-- One row per organization with sends in the day, ordered by id:
--   organization_id (text), organization_name, total, bounced,
--   bounce_rate (bounced * 100 / total, 2 decimals), hard_bounces
SELECT
    o.name AS organization_name,
    CAST(es.organization_id AS text) AS organization_id,
    COUNT(*) AS total,
    COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced,
    ROUND(COUNT(*) FILTER (WHERE es.send_status = 'bounced') * 100.0 / COUNT(*), 2) AS bounce_rate,
    COUNT(*) FILTER (WHERE es.send_status = 'bounced' AND es.bounce_type = 'hard') AS hard_bounces
FROM email_sends AS es
INNER JOIN organizations AS o ON es.organization_id = o.id
WHERE
    es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
    AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
GROUP BY es.organization_id, o.name
ORDER BY organization_id
