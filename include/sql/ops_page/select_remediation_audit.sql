-- The Lead Nurture page: the latest remediation decisions (nurture_ops.remediation_audit).
-- Params: max_rows (integer). Newest first (its recorded_at index).
SELECT
    a.id,
    a.remediation_key,
    a.alert_key,
    a.mode,
    a.outcome,
    a.rows_counted,
    a.rows_changed,
    a.reason,
    a.detail ->> 'message' AS message,
    a.detail ->> 'approval_run_id' AS approval_run_id,
    a.dag_id,
    a.run_id,
    a.task_id,
    a.evaluated_at,
    a.recorded_at
FROM {{ schema }}.remediation_audit AS a
ORDER BY a.recorded_at DESC, a.id DESC
LIMIT {{ bind("max_rows") }}
