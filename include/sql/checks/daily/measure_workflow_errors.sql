-- Runbook 1.3 "Check workflow execution errors", for one day.
-- Params: day_start, day_end (timestamptz): the day, half-open, on workflow_errors.created_at.
-- One row:
--   error_count           errors logged in the day, all workflows (runbook: should be 0)
--   workflows_with_errors distinct workflow_name among them
--   details               jsonb array, at most 10 workflows, most errors first:
--                         {workflow_name, error_count, last_error (timestamp of the latest),
--                          last_error_message, last_node_name}
WITH day_errors AS (
    SELECT
        we.workflow_name,
        we.node_name,
        we.error_message,
        we.created_at,
        we.id
    FROM workflow_errors AS we
    WHERE
        we.created_at >= CAST({{ bind("day_start") }} AS timestamptz)
        AND we.created_at < CAST({{ bind("day_end") }} AS timestamptz)
),

per_workflow AS (
    SELECT
        de.workflow_name,
        COUNT(*) AS error_count,
        MAX(de.created_at) AS last_error,
        (ARRAY_AGG(de.error_message ORDER BY de.created_at DESC, de.id DESC))[1] AS last_error_message,
        (ARRAY_AGG(de.node_name ORDER BY de.created_at DESC, de.id DESC))[1] AS last_node_name
    FROM day_errors AS de
    GROUP BY de.workflow_name
    ORDER BY error_count DESC, last_error DESC, de.workflow_name ASC
    LIMIT 10
)

SELECT
    (SELECT COUNT(*) FROM day_errors) AS error_count,
    (SELECT COUNT(DISTINCT de.workflow_name) FROM day_errors AS de) AS workflows_with_errors,
    (
        SELECT
            COALESCE(
                JSONB_AGG(
                    JSONB_BUILD_OBJECT(
                        'workflow_name', p.workflow_name,
                        'error_count', p.error_count,
                        'last_error', p.last_error,
                        'last_error_message', p.last_error_message,
                        'last_node_name', p.last_node_name
                    )
                    ORDER BY p.error_count DESC, p.last_error DESC, p.workflow_name ASC
                ),
                CAST('[]' AS jsonb)
            )
        FROM per_workflow AS p
    ) AS details;
