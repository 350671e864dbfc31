-- Runbook 1.2 "Check active enrollments", at the run's time instead of NOW().
-- Params: as_of (timestamptz): the run's time.
-- One row:
--   active_enrollments   enrollments with status 'active'
--   overdue              of those, next_send_at <= as_of (runbook: should be 0)
--   due_soon             of those, next_send_at <= as_of + 1 hour (overdue ones included, as in
--                        the runbook)
--   max_overdue_minutes  how far the oldest overdue enrollment is past next_send_at, whole
--                        minutes; NULL when nothing is overdue
--   details              jsonb array, at most 10 organizations with overdue enrollments, most
--                        first: {organization_id, organization_name, overdue, oldest_next_send_at}
WITH active AS (
    SELECT
        lce.organization_id,
        lce.next_send_at,
        lce.next_send_at <= CAST({{ bind("as_of") }} AS timestamptz) AS is_overdue
    FROM lead_campaign_enrollments AS lce
    WHERE lce.status = 'active'
),

overdue_per_org AS (
    SELECT
        a.organization_id,
        o.name AS organization_name,
        COUNT(*) AS overdue,
        MIN(a.next_send_at) AS oldest_next_send_at
    FROM active AS a
    INNER JOIN organizations AS o ON a.organization_id = o.id
    WHERE a.is_overdue
    GROUP BY a.organization_id, o.name
    ORDER BY overdue DESC, oldest_next_send_at ASC, organization_name ASC
    LIMIT 10
)

SELECT
    COUNT(*) AS active_enrollments,
    COUNT(*) FILTER (WHERE a.is_overdue) AS overdue,
    COUNT(*) FILTER (
        WHERE a.next_send_at <= CAST({{ bind("as_of") }} AS timestamptz) + interval '1 hour'
    ) AS due_soon,
    FLOOR(
        EXTRACT(
            EPOCH FROM (
                CAST({{ bind("as_of") }} AS timestamptz)
                - MIN(a.next_send_at) FILTER (WHERE a.is_overdue)
            )
        ) / 60
    ) AS max_overdue_minutes,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'organization_id', p.organization_id,
                        'organization_name', p.organization_name,
                        'overdue', p.overdue,
                        'oldest_next_send_at', p.oldest_next_send_at
                    )
                    ORDER BY p.overdue DESC, p.oldest_next_send_at ASC, p.organization_name ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM overdue_per_org AS p
    ) AS details
FROM active AS a;
