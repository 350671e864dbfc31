"""
### Lead nurture — weekly review (runbook 7 "Weekly", sections 4 and 6)

Mondays 07:00 UTC, over the 7 days ending at the run's logical date (`[date - 7 days, date)`).
One **[INFO] Weekly review** message: a section per part; what misses a runbook target is
flagged and named in the message text. Rerunning a past run reviews that past week. The
checklist, targets, actions and backup details below are generated from the review's own
constants and the catalog's scaling guidelines.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import dag_settings, probe_database
from nurture_ops.weekly_review import (
    doc_md,
    export_workflow_definitions,
    query_performance,
    scheduler_performance,
    sender_performance,
    sendgrid_deliverability,
    unsubscribe_feedback,
    weekly_summary,
)

with DAG(
    "nurture_weekly_review",
    schedule="0 7 * * 1",
    **dag_settings(
        "Runbook weekly review: query, scheduler and sender performance, unsubscribes, workflow backup",
        dagrun_timeout=timedelta(hours=2),
        execution_timeout=timedelta(minutes=30),
        retries=2,
        retry_delay=timedelta(minutes=5),
        tags=["weekly"],
        doc_md=doc_md(__doc__),
    ),
):
    database_parts = [
        query_performance(),
        scheduler_performance(),
        sender_performance(),
        unsubscribe_feedback(),
        sendgrid_deliverability(),
    ]
    probe_database(owns_alert=False) >> database_parts
    [*database_parts, export_workflow_definitions()] >> weekly_summary()
