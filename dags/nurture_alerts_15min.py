"""
### Lead nurture — workflow and queue alerts, every 15 minutes

The runbook's 15-minute checks: stopped N8n workflows, emails stuck in the queue, overdue
enrollments, and N8n's workflow execution queue (its scaling trigger, through the N8n API). Each run evaluates windows that end at the run's logical date, so clearing a past
run re-evaluates that past window. The checks, their thresholds, runbook actions and inhibitions
below are generated from the catalog (`plugins/nurture_ops/core/catalog.py`, cadence "15min"),
the same selection the tasks are built from.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import alert_doc_md, alert_tasks, dag_settings

with DAG(
    "nurture_alerts_15min",
    schedule="*/15 * * * *",
    **dag_settings(
        "Runbook alerts every 15 minutes: stopped workflows, stuck queue, overdue enrollments",
        dagrun_timeout=timedelta(minutes=12),
        execution_timeout=timedelta(minutes=3),
        retries=1,
        retry_delay=timedelta(seconds=30),
        tags=["alerts"],
        doc_md=alert_doc_md("15min", __doc__),
    ),
):
    alert_tasks("15min")
