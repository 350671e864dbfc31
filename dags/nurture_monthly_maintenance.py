"""
### Lead nurture — monthly maintenance (runbook 7 "Monthly", section 4 "Index Maintenance (Monthly)")

03:00 UTC on the 1st of each month. Everything is online: the sending system keeps reading and
writing throughout. One **[INFO] Monthly maintenance** message at the end; its text starts with
**ATTENTION** when something was not done.

#### Monthly checklist (runbook 7)
- [x] Rebuild database indexes: `reindex_tables`, `invalid_indexes`, `analyze_tables`
- [x] Review and optimize slow workflows: `review_slow_workflows`
- [x] Clean up completed enrollments > 90 days: `cleanup_completed_enrollments`
- [ ] Review and update documentation: by hand (the summary reminds you)
- [ ] Rotate API keys (if security policy requires): by hand (the summary reminds you)

#### Index Maintenance (Monthly) (runbook 4)
The runbook's `REINDEX TABLE lead_campaign_enrollments; REINDEX TABLE email_sends; REINDEX TABLE
email_events;` ("Rebuild indexes") then `ANALYZE` of the same tables ("Update statistics").
A plain REINDEX blocks every write for the whole rebuild, so here each table gets
`REINDEX TABLE CONCURRENTLY`, one at a time, on an autocommit connection with a `lock_timeout`
(5 s; retried 3 times, then reported while the other tables go on; a table left unrebuilt
fails `reindex_tables` once all were tried, and the steps after it wait for it to be cleared).
A failed concurrent rebuild
leaves INVALID `*_ccnew` indexes: those of the failed attempt are dropped at once; older ones are
listed by `invalid_indexes` and dropped (`DROP INDEX CONCURRENTLY`) only when the Variable
`nurture_ops_maintenance` says `{"drop_invalid_indexes": true}`.

#### Clean up completed enrollments > 90 days
Enrollments with status `completed` and `completed_at` more than 90 days before the run are moved
in batches (one transaction each, `FOR UPDATE SKIP LOCKED`) to `lead_campaign_enrollments_archive`,
or deleted with `{"cleanup_mode": "delete"}`. Totals are reconciled (live + archived = before);
a crash leaves whole batches moved, and clearing the task continues where it stopped.

#### Review and optimize slow workflows
Errors per workflow (`workflow_errors`) in the month ending at the run, against the month before
(trend up / down / new), with the month's executions and their mean / max `duration_ms`
(`include/sql/maintenance/review_workflow_errors.sql`). Rising errors: open the workflow's
execution history in N8n and look at the failing node, then at its slowest steps.

#### Alerts during the maintenance
`silence_alerts` (setup) silences the alerts this load can trip (`SILENCED_ALERTS` below) from
the run's time for 6 hours, reason "monthly maintenance <run_id>"; `lift_silences` (teardown)
ends them when the work is done, even when a task failed. An alert still firing afterwards is
announced by its own DAG as usual. Clearing a failed task re-runs both around it (Airflow clears
a task's setup and teardown with it), so a rerun is silenced too.

#### Variable `nurture_ops_maintenance` (JSON, optional, read when the tasks run)
`{"drop_invalid_indexes": false, "cleanup_mode": "archive", "cleanup_batch_size": 5000,
"lock_timeout_ms": 5000}` (the defaults). A bad value fails the task that reads it, with a
message naming the key; the silences are lifted all the same.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import default_args, utc
from nurture_ops.monthly_maintenance import (
    analyze_tables,
    cleanup_completed_enrollments,
    invalid_indexes,
    lift_silences,
    monthly_summary,
    reindex_tables,
    review_slow_workflows,
    silence_alerts,
)

# The alerts the maintenance's own load could trip (slower sends, a scheduler held up).
SILENCED_ALERTS = ["overdue_enrollments", "emails_stuck_queued"]
# Runbook 4 "Index Maintenance (Monthly)": the tables to rebuild and analyze, in this order.
TABLES = ["lead_campaign_enrollments", "email_sends", "email_events"]

with DAG(
    dag_id="nurture_monthly_maintenance",
    description="Runbook monthly: online reindex + analyze, cleanup of completed enrollments, workflow errors",
    schedule="0 3 1 * *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # One maintenance operation at a time: the least extra load on the sending system.
    max_active_tasks=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(),
    tags=["nurture", "monthly", "maintenance"],
    doc_md=__doc__,
):
    silence = silence_alerts(SILENCED_ALERTS).as_setup()
    reindexed = reindex_tables(TABLES)
    analyzed = analyze_tables(TABLES)
    cleanup = cleanup_completed_enrollments()
    workflows = review_slow_workflows()
    silence >> [reindexed, cleanup, workflows]
    reindexed >> invalid_indexes() >> analyzed

    lifted = lift_silences(silence).as_teardown(setups=silence)
    [analyzed, cleanup, workflows] >> lifted
    # After the teardown, so it can say when the silences ended; the work tasks stay the run's
    # leaves for its state (a failed cleanup fails the run, the summary notwithstanding).
    lifted >> monthly_summary()
