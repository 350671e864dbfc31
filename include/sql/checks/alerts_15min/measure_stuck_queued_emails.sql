-- Emails Stuck in Queued Status (runbook 3, Issue 1; critical; every 15 minutes).
-- Sends still 'queued' whose scheduled_send_time is more than stuck_after_minutes before the
-- run (as_of). Metrics: stuck_emails, oldest_minutes. details: the runbook's diagnosis (failure
-- reasons of the last day, grouped) and stuck emails per organization.
WITH stuck AS (
    SELECT
        es.organization_id,
        es.scheduled_send_time
    FROM email_sends AS es
    WHERE
        es.send_status = 'queued'
        AND es.scheduled_send_time
        < {{ bind("as_of") }} - MAKE_INTERVAL(mins => {{ bind("stuck_after_minutes") }}::int)
),

failure_reasons AS (
    SELECT
        COALESCE(es.failure_reason, 'unknown') AS failure_reason,
        COUNT(*) AS failed
    FROM email_sends AS es
    WHERE
        es.send_status = 'failed'
        AND es.created_at >= {{ bind("as_of") }} - interval '1 day'
        AND es.created_at < {{ bind("as_of") }}
    GROUP BY COALESCE(es.failure_reason, 'unknown')
)

SELECT
    (SELECT COUNT(*) FROM stuck) AS stuck_emails,
    (
        SELECT FLOOR(EXTRACT(EPOCH FROM ({{ bind("as_of") }} - MIN(scheduled_send_time))) / 60)::int
        FROM stuck
    ) AS oldest_minutes,
    JSONB_BUILD_OBJECT(
        'failure_reasons',
        COALESCE((
            SELECT JSONB_AGG(TO_JSONB(fr) ORDER BY fr.failed DESC, fr.failure_reason)
            FROM (
                SELECT * FROM failure_reasons
                ORDER BY failed DESC, failure_reason LIMIT 5
            ) AS fr
        ), '[]'::jsonb),
        'organizations',
        COALESCE((
            SELECT JSONB_AGG(TO_JSONB(so) ORDER BY so.stuck DESC, so.organization_name)
            FROM (
                SELECT
                    o.name AS organization_name,
                    COUNT(*) AS stuck
                FROM stuck AS s
                INNER JOIN organizations AS o ON s.organization_id = o.id
                GROUP BY o.name
                ORDER BY stuck DESC, organization_name
                LIMIT 5
            ) AS so
        ), '[]'::jsonb)
    ) AS details
