"""Tasks of nurture_weekly_review (runbook 7 "Weekly", sections 4 and 6): one per part, then the
summary, which posts one [INFO] "Weekly review" message whatever failed upstream.

Every part reviews the 7 days ending at the run's logical date (`core.windows.week_window`).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, get_current_context, task

from nurture_ops.alerting.notify import post_report
from nurture_ops.core import db
from nurture_ops.core.settings import load_backup_url
from nurture_ops.core.windows import Window, run_time, week_window
from nurture_ops.integrations.n8n import N8nClient
from nurture_ops.integrations.workflow_backups import export_workflows
from nurture_ops.weekly_review import logic
from nurture_ops.weekly_review.report import WEEKLY_PARTS, weekly_report


def _week() -> Window:
    return week_window(run_time(get_current_context()))


@task
def query_performance() -> dict:
    """Runbook 4 "Query Performance Review": slowest statements on the runbook's tables."""
    with db.connect() as conn:
        return logic.slow_queries(conn)


@task
def scheduler_performance() -> dict:
    """Runbook 4 "Scheduler Performance": Process 1000 enrollments in < 10 seconds."""
    week = _week()
    with db.connect() as conn:
        return logic.scheduler_performance(conn, week_start=week.start, week_end=week.end)


@task
def sender_performance() -> dict:
    """Runbook 4 "Sender Performance": Send 100 emails per minute."""
    week = _week()
    with db.connect() as conn:
        return logic.sender_performance(conn, week_start=week.start, week_end=week.end)


@task
def unsubscribe_feedback() -> dict:
    """Runbook 7 "Review unsubscribe feedback": per campaign, with reasons."""
    week = _week()
    with db.connect() as conn:
        return logic.unsubscribe_feedback(conn, week_start=week.start, week_end=week.end)


@task
def export_workflow_definitions() -> dict:
    """Runbook 6 "Workflow Definitions (Weekly)": every N8n workflow to the backup URL."""
    context = get_current_context()
    try:
        return export_workflows(
            N8nClient.from_connection(), load_backup_url(), export_date=run_time(context).date()
        )
    except Exception as exc:  # the summary quotes it; the task still fails
        context["ti"].xcom_push(key="error", value=str(exc)[:500])
        raise


@task(trigger_rule=TriggerRule.ALL_DONE)
def weekly_summary() -> str:
    """One [INFO] "Weekly review" message, whatever failed upstream."""
    ti = get_current_context()["ti"]
    sections, summary = weekly_report(
        {part: ti.xcom_pull(task_ids=part) for part in WEEKLY_PARTS},
        week=_week(),
        database=ti.xcom_pull(task_ids="probe_database", key="probe"),
        export_error=ti.xcom_pull(task_ids="export_workflow_definitions", key="error"),
    )
    return post_report("Weekly review", sections, summary=summary)
