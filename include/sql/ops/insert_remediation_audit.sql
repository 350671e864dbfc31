-- The audit row of one remediation decision (applied, dry run, over the cap, off, nothing to
-- change), written in the transaction of the change it records.
-- Params: remediation_key (text), alert_key (text or NULL), mode (text: apply, dry_run or off),
--         outcome (text), rows_counted (bigint or NULL), rows_changed (bigint), reason (text),
--         detail (jsonb text), dag_id, run_id, task_id (text or NULL), evaluated_at (timestamptz).
INSERT INTO {{ schema }}.remediation_audit (
    remediation_key,
    alert_key,
    mode,
    outcome,
    rows_counted,
    rows_changed,
    reason,
    detail,
    dag_id,
    run_id,
    task_id,
    evaluated_at
)
VALUES (
    {{ bind("remediation_key") }},
    {{ bind("alert_key") }},
    {{ bind("mode") }},
    {{ bind("outcome") }},
    {{ bind("rows_counted") }},
    {{ bind("rows_changed") }},
    {{ bind("reason") }},
    {{ bind("detail") }},
    {{ bind("dag_id") }},
    {{ bind("run_id") }},
    {{ bind("task_id") }},
    {{ bind("evaluated_at") }}
)
