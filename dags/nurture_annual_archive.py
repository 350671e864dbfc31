"""
### Lead nurture — annual archive (runbook 7 "Annually")

04:00 UTC on the 2nd of January, and by hand whenever needed. Moves old email sends and their
events into archive tables in the same database. One **[INFO] Annual archive** message with the
final counts and the reconciliation.

**Running it by hand**: *Trigger DAG w/ config* in the UI, or
`airflow dags trigger nurture_annual_archive --conf '{"cutoff_date": "2025-01-01", "dry_run": true}'`.
Start with a dry run, read its report, then run again with `dry_run` off.
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import dag_settings
from nurture_ops.annual_archive import (
    DEFAULT_SENDS_BATCH_SIZE,
    archive_old_data,
    archive_report,
    doc_md,
    plan_archive,
)

PARAMS = {
    "cutoff_date": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Archive sends created before (YYYY-MM-DD)",
        description="Leave empty for one year before the run's date; at least 365 days before it",
    ),
    "dry_run": Param(
        False, type="boolean", title="Dry run", description="Count what would move, change nothing"
    ),
    "batch_size": Param(
        DEFAULT_SENDS_BATCH_SIZE,
        type="integer",
        minimum=100,
        maximum=50000,
        title="Batch size",
        description="Sends moved per transaction (their events go with them); smaller batches hold locks for less time",
    ),
}

with DAG(
    "nurture_annual_archive",
    schedule="0 4 2 1 *",
    **dag_settings(
        "Runbook annually: archive email sends and their events older than one year",
        dagrun_timeout=timedelta(hours=12),
        execution_timeout=timedelta(hours=5, minutes=45),
        retries=1,
        retry_delay=timedelta(minutes=15),
        tags=["annual", "maintenance"],
        doc_md=doc_md(__doc__, PARAMS),
        params=PARAMS,
    ),
):
    archive_report(archive_old_data(plan_archive()))
