"""Tasks of nurture_weekly_review (runbook 7 "Weekly", sections 4 and 6): one per part, then the
summary, which posts one [INFO] "Weekly review" message whatever failed upstream.

Every part reviews the 7 days ending at the run's logical date (`core.windows.week_window`).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, get_current_context, task

from nurture_ops.alerting.notify import post_parts_report
from nurture_ops.core import db
from nurture_ops.core.settings import load_backup_url, load_settings
from nurture_ops.core.windows import Window, run_time, week_window
from nurture_ops.integrations import sendgrid
from nurture_ops.integrations.http_api import ApiError, describe_failure
from nurture_ops.integrations.n8n import N8nClient
from nurture_ops.integrations.workflow_backups import export_workflows
from nurture_ops.weekly_review import deliverability, logic
from nurture_ops.weekly_review.report import DELIVERABILITY_PART, WEEKLY_PARTS, weekly_report


def _week() -> Window:
    return week_window(run_time(get_current_context()))


@task
def query_performance() -> dict:
    """Runbook 4 "Query Performance Review": slowest statements on the runbook's tables."""
    with db.connect(purpose="read") as conn:
        return logic.slow_queries(conn)


def _over_the_week(review) -> dict:
    """Run one review function of weekly_review.logic over the week ending at the run."""
    week = _week()
    with db.connect(purpose="read") as conn:
        return review(conn, week_start=week.start, week_end=week.end)


@task
def scheduler_performance() -> dict:
    """Runbook 4 "Scheduler Performance": Process 1000 enrollments in < 10 seconds."""
    return _over_the_week(logic.scheduler_performance)


@task
def sender_performance() -> dict:
    """Runbook 4 "Sender Performance": Send 100 emails per minute."""
    return _over_the_week(logic.sender_performance)


@task
def unsubscribe_feedback() -> dict:
    """Runbook 7 "Review unsubscribe feedback": per campaign, with reasons."""
    return _over_the_week(logic.unsubscribe_feedback)


@task
def sendgrid_deliverability() -> dict:
    """Runbook 7 "Check SendGrid deliverability stats": SendGrid's daily stats for the 7 days
    before the run's date, reconciled with the database's counts; a missing connection or a failed
    call is reported in the section ("not configured" / "API failed"), not a failed task."""
    check = load_settings().check("sendgrid_deliverability")
    first, last = deliverability.review_days(run_time(get_current_context()))
    try:  # the outside call first: no database connection is open while it waits
        theirs = sendgrid.daily_stats(sendgrid.client(), first, last)
    except ApiError as exc:  # NotConfigured included
        return deliverability.review(None, None, check, first=first, last=last, error=describe_failure(exc))
    with db.connect(purpose="read") as conn:
        return deliverability.review(conn, theirs, check, first=first, last=last)


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
    return post_parts_report(
        "Weekly review",
        weekly_report,
        (*WEEKLY_PARTS, DELIVERABILITY_PART),
        week=_week(),
        export_error=ti.xcom_pull(task_ids="export_workflow_definitions", key="error"),
        level="medium",  # the escalation matrix: performance findings
    )
