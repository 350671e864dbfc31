-- High Email Failure Rate (runbook 2, critical; every 5 minutes).
-- Sends created in [window_start, window_end). Metrics: total, failed, failure_rate (percent;
-- NULL when the window has no sends: "no data", not zero). details: top organizations by
-- failures and top failure reasons.
WITH window_sends AS (
    SELECT
        es.organization_id,
        es.send_status,
        es.failure_reason
    FROM email_sends AS es
    WHERE
        es.created_at >= {{ bind("window_start") }}
        AND es.created_at < {{ bind("window_end") }}
),

by_organization AS (
    SELECT
        o.name AS organization_name,
        COUNT(*) AS total,
        COUNT(*) FILTER (WHERE ws.send_status = 'failed') AS failed
    FROM window_sends AS ws
    INNER JOIN organizations AS o ON ws.organization_id = o.id
    GROUP BY o.name
),

by_reason AS (
    SELECT
        COALESCE(failure_reason, 'unknown') AS failure_reason,
        COUNT(*) AS failed
    FROM window_sends
    WHERE send_status = 'failed'
    GROUP BY COALESCE(failure_reason, 'unknown')
)

SELECT
    (SELECT COUNT(*) FROM window_sends) AS total,
    (
        SELECT COUNT(*) FROM window_sends
        WHERE send_status = 'failed'
    ) AS failed,
    (
        SELECT
            ROUND(
                COUNT(*) FILTER (WHERE send_status = 'failed') * 100.0 / NULLIF(COUNT(*), 0), 1
            )
        FROM window_sends
    ) AS failure_rate,
    JSONB_BUILD_OBJECT(
        'organizations',
        COALESCE((
            SELECT JSONB_AGG(TO_JSONB(bo) ORDER BY bo.failed DESC, bo.organization_name)
            FROM (
                SELECT * FROM by_organization
                WHERE failed > 0
                ORDER BY failed DESC, organization_name
                LIMIT 5
            ) AS bo
        ), '[]'::jsonb),
        'failure_reasons',
        COALESCE((
            SELECT JSONB_AGG(TO_JSONB(br) ORDER BY br.failed DESC, br.failure_reason)
            FROM (
                SELECT * FROM by_reason
                ORDER BY failed DESC, failure_reason
                LIMIT 5
            ) AS br
        ), '[]'::jsonb)
    ) AS details
