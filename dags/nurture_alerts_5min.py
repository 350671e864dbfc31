"""
### Lead nurture — critical alerts, every 5 minutes

The runbook's critical alerts (section 2, *Monitoring & Alerts › Critical Alerts*) that cannot
wait: is the database reachable, and are emails failing. Each run evaluates the five minutes
that end at the run's logical date, so clearing a past run re-evaluates that past window. This
DAG owns the database probe's alert: its state lives in an Airflow Variable, since the database
that holds every other alert's state is the one that is down. The checks, thresholds, runbook
actions and remediation below are generated from the catalog (cadence "5min"), the same
selection the tasks are built from.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import alert_doc_md, alert_tasks, dag_settings

with DAG(
    "nurture_alerts_5min",
    schedule="*/5 * * * *",
    **dag_settings(
        "Runbook critical alerts every 5 minutes: database reachable, email failure rate",
        dagrun_timeout=timedelta(minutes=4),
        execution_timeout=timedelta(seconds=60),
        retries=1,
        retry_delay=timedelta(seconds=10),
        tags=["alerts"],
        doc_md=alert_doc_md("5min", __doc__),
    ),
):
    alert_tasks("5min")
