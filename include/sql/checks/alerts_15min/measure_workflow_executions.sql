-- Workflow Execution Stopped (runbook 2, critical; every 15 minutes).
-- A watched workflow is stopped when it has no execution in [window_start, window_end); one
-- that never ran counts as stopped. Metrics: stopped_workflows, stopped_names. details: last
-- execution of each watched workflow.
WITH watched AS (
    SELECT
        UNNEST(ARRAY[{{ bind("workflow_scheduler") }}, {{ bind("workflow_sender") }}]::text[])
            AS workflow_name
),

last_runs AS (
    SELECT
        w.workflow_name,
        (
            SELECT MAX(we.created_at)
            FROM workflow_executions AS we
            WHERE
                we.workflow_name = w.workflow_name
                AND we.created_at < {{ bind("window_end") }}
        ) AS last_run
    FROM watched AS w
),

stopped AS (
    SELECT
        workflow_name,
        last_run
    FROM last_runs
    WHERE last_run IS NULL OR last_run < {{ bind("window_start") }}
)

SELECT
    (SELECT COUNT(*) FROM stopped) AS stopped_workflows,
    COALESCE((SELECT STRING_AGG(workflow_name, ', ' ORDER BY workflow_name) FROM stopped), 'none')
        AS stopped_names,
    (
        SELECT
            JSONB_AGG(
                JSONB_BUILD_OBJECT(
                    'workflow_name', lr.workflow_name,
                    'last_run', lr.last_run,
                    'last_run_text', COALESCE(
                        TO_CHAR(lr.last_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), 'never'
                    ),
                    'stopped', lr.last_run IS NULL OR lr.last_run < {{ bind("window_start") }}
                )
                ORDER BY lr.workflow_name
            )
        FROM last_runs AS lr
    ) AS details
