-- Runbook Issue 3 "High Bounce Rate" per organization (core/per_organization.py), for one day:
-- the sends of measure_bounce_rate.sql (actual_send_time in [day_start, day_end)) in one
-- GROUP BY organization_id for every organization.
-- One row per organization with sends in the day, ordered by id:
--   organization_id (text), organization_name, total, bounced,
--   bounce_rate (bounced * 100 / total, 2 decimals), hard_bounces
-- Counted per organization first, then named: the join reads 100 organizations, not 100,000 sends.
WITH per_organization AS (
    SELECT
        es.organization_id,
        COUNT(*) AS total,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced') AS bounced,
        COUNT(*) FILTER (WHERE es.send_status = 'bounced' AND es.bounce_type = 'hard') AS hard_bounces
    FROM email_sends AS es
    WHERE
        es.actual_send_time >= CAST({{ bind("day_start") }} AS timestamptz)
        AND es.actual_send_time < CAST({{ bind("day_end") }} AS timestamptz)
    GROUP BY es.organization_id
)

SELECT
    o.name AS organization_name,
    CAST(po.organization_id AS text) AS organization_id,
    po.total,
    po.bounced,
    ROUND(po.bounced * 100.0 / po.total, 2) AS bounce_rate,
    po.hard_bounces
FROM per_organization AS po
INNER JOIN organizations AS o ON po.organization_id = o.id
ORDER BY organization_id
