"""
### Lead nurture — workflow and queue alerts, every 15 minutes

Runbook section 2 (*Workflow Execution Stopped*), section 3 Issue 1 (*Emails Stuck in Queued
Status*) and the health check's "overdue should be 0". Windows end at the run's logical date.

| Check | SQL | Alert if |
|---|---|---|
| Workflow Execution Stopped (critical) | `checks/alerts_15min/measure_workflow_executions.sql` | Message Scheduler or Email Sender has no execution in 15 min (never ran counts) |
| Emails Stuck in Queued Status (critical) | `checks/alerts_15min/measure_stuck_queued_emails.sql` | any `queued` send scheduled > 60 min ago |
| Overdue Enrollments (warning) | `checks/alerts_15min/measure_overdue_enrollments.sql` | any active enrollment > 15 min past `next_send_at` |

While *Workflow Execution Stopped* fires, the other two are consequences: they are recorded but
held back, and named in the workflow alert instead of paging separately. If the database is
unreachable, nothing is evaluated (the 5-minute DAG pages about it).

#### Workflow Execution Stopped — runbook actions
1. Check N8n service is running
2. Verify workflows are activated (green toggle)
3. Check N8n logs for errors
4. Restart N8n if necessary
5. Manually trigger workflows to catch up

#### Emails Stuck in Queued Status — diagnosis and solution
1. Check if Email Sender workflow is active
2. Check SendGrid API key validity
3. Review sender workflow execution history
4. Check for rate limiting

The message lists the last day's failure reasons. If rate limited: reduce
`N8N_MAX_EMAILS_PER_MINUTE`; if authentication failed: update the SendGrid API key; if the
workflow stopped: reactivate it; if no clear issue: manually trigger the sender workflow.

#### Overdue Enrollments — actions
1. Check the Message Scheduler workflow is active and running every minute
2. Review the scheduler's execution history and errors in N8n
3. Manually trigger the scheduler to catch up
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import check_group, default_args, probe_database, utc, wire_inhibitions

CHECKS = ["workflow_execution_stopped", "emails_stuck_queued", "overdue_enrollments"]

with DAG(
    dag_id="nurture_alerts_15min",
    description="Runbook alerts every 15 minutes: stopped workflows, stuck queue, overdue enrollments",
    schedule="*/15 * * * *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=12),
    default_args=default_args(),
    tags=["nurture", "alerts"],
    doc_md=__doc__,
):
    probe = probe_database(owns_alert=False)
    groups = [check_group(key) for key in CHECKS]
    probe >> [group.measure for group in groups]
    wire_inhibitions(groups)
