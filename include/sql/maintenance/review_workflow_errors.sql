-- Runbook 7 "Monthly": Review and optimize slow workflows.
-- Params (timestamptz): previous_start, month_start, month_end. The month is
-- [month_start, month_end), the month before it [previous_start, month_start): half-open
-- windows on the raw created_at of workflow_errors and workflow_executions.
-- One row per workflow with errors in either month or executions in the month:
--   error_count, previous_error_count  errors logged in the month / in the month before
--   trend             new (none before, some now), up, down, same (equal, not 0), none
--   last_error        timestamp of the month's latest error; last_error_message with it
--   executions        executions in the month; failed_executions those with status <> 'success'
--   mean_duration_ms, max_duration_ms  over the month's executions with a duration
-- Most errors first, then the slowest on average.
WITH errors AS (
    SELECT
        we.workflow_name,
        COUNT(*) FILTER (
            WHERE we.created_at >= CAST({{ bind("month_start") }} AS timestamptz)
        ) AS error_count,
        COUNT(*) FILTER (
            WHERE we.created_at < CAST({{ bind("month_start") }} AS timestamptz)
        ) AS previous_error_count,
        MAX(we.created_at) FILTER (
            WHERE we.created_at >= CAST({{ bind("month_start") }} AS timestamptz)
        ) AS last_error,
        (
            ARRAY_AGG(we.error_message ORDER BY we.created_at DESC, we.id DESC) FILTER (
                WHERE we.created_at >= CAST({{ bind("month_start") }} AS timestamptz)
            )
        )[1] AS last_error_message
    FROM workflow_errors AS we
    WHERE
        we.created_at >= CAST({{ bind("previous_start") }} AS timestamptz)
        AND we.created_at < CAST({{ bind("month_end") }} AS timestamptz)
    GROUP BY we.workflow_name
),

executions AS (
    SELECT
        wx.workflow_name,
        COUNT(*) AS executions,
        COUNT(*) FILTER (WHERE wx.status <> 'success') AS failed_executions,
        CAST(ROUND(AVG(wx.duration_ms)) AS bigint) AS mean_duration_ms,
        MAX(wx.duration_ms) AS max_duration_ms
    FROM workflow_executions AS wx
    WHERE
        wx.created_at >= CAST({{ bind("month_start") }} AS timestamptz)
        AND wx.created_at < CAST({{ bind("month_end") }} AS timestamptz)
    GROUP BY wx.workflow_name
),

per_workflow AS (
    SELECT
        COALESCE(e.workflow_name, x.workflow_name) AS workflow_name,
        COALESCE(e.error_count, 0) AS error_count,
        COALESCE(e.previous_error_count, 0) AS previous_error_count,
        e.last_error,
        e.last_error_message,
        COALESCE(x.executions, 0) AS executions,
        COALESCE(x.failed_executions, 0) AS failed_executions,
        x.mean_duration_ms,
        x.max_duration_ms
    FROM errors AS e
    FULL OUTER JOIN executions AS x ON e.workflow_name = x.workflow_name
)

SELECT
    p.workflow_name,
    p.error_count,
    p.previous_error_count,
    CASE
        WHEN p.error_count > 0 AND p.previous_error_count = 0 THEN 'new'
        WHEN p.error_count > p.previous_error_count THEN 'up'
        WHEN p.error_count < p.previous_error_count THEN 'down'
        WHEN p.error_count > 0 THEN 'same'
        ELSE 'none'
    END AS trend,
    p.last_error,
    p.last_error_message,
    p.executions,
    p.failed_executions,
    p.mean_duration_ms,
    p.max_duration_ms
FROM per_workflow AS p
ORDER BY
    p.error_count DESC,
    p.previous_error_count DESC,
    p.mean_duration_ms DESC NULLS LAST,
    p.workflow_name ASC
