-- Overdue enrollments (runbook 1, health check 2: "overdue should be 0"; warning; every 15 min).
-- Active enrollments whose next_send_at is more than grace_minutes before the run (as_of).
-- Metric: overdue_enrollments. details: overdue per organization.
WITH overdue AS (
    SELECT lce.organization_id
    FROM lead_campaign_enrollments AS lce
    WHERE
        lce.status = 'active'
        AND lce.next_send_at < {{ bind("as_of") }} - MAKE_INTERVAL(mins => {{ bind("grace_minutes") }}::int)
)

SELECT
    (SELECT COUNT(*) FROM overdue) AS overdue_enrollments,
    COALESCE((
        SELECT JSONB_AGG(TO_JSONB(po) ORDER BY po.overdue DESC, po.organization_name)
        FROM (
            SELECT
                o.name AS organization_name,
                COUNT(*) AS overdue
            FROM overdue AS od
            INNER JOIN organizations AS o ON od.organization_id = o.id
            GROUP BY o.name
            ORDER BY overdue DESC, organization_name
            LIMIT 5
        ) AS po
    ), '[]'::jsonb) AS details
