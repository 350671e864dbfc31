"""
### Lead nurture — daily health check, KPI review and common issues (every morning)

The runbook's daily work: section 1 (*Daily Operations*), section 2 (*Warning Alerts*) and
section 3 (*Common Issues*), for the day before the run's date (UTC); a rerun or backfill of a
past day answers for that day. Runs at 07:00 UTC, after `nurture_analytics_rollup` (01:00) has
written yesterday's analytics. The digest's expectations, the KPI table and the checks below
(thresholds, runbook actions, fixes) are generated from the catalog (cadence "daily"), the same
selection the tasks are built from.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import alert_doc_md, alert_tasks, dag_settings
from nurture_ops.daily_health import daily_digest_task, doc_sections

with DAG(
    "nurture_daily_health",
    schedule="0 7 * * *",
    **dag_settings(
        "Runbook morning health check, KPI digest, warning alerts and common-issue fixes",
        dagrun_timeout=timedelta(hours=1),
        execution_timeout=timedelta(minutes=15),
        retries=2,
        retry_delay=timedelta(minutes=2),
        tags=["daily"],
        doc_md=alert_doc_md("daily", __doc__, *doc_sections()),
    ),
):
    alert_tasks("daily", after_checks=(daily_digest_task(),))
