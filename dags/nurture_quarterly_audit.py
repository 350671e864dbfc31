"""
### Lead nurture — quarterly audit (runbook 7 "Quarterly", sections 5 and 6)

08:00 UTC on the 1st of January, April, July and October, over the 3 months ending at the run's
logical date. One **[INFO] Quarterly audit** message. The checklist, capacity limits, scaling
steps and recovery checks below are generated from the audit's own constants and the catalog's
scaling guidelines.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import dag_settings, probe_database
from nurture_ops.quarterly_audit import (
    audit_summary,
    capacity_review,
    doc_md,
    recovery_readiness,
    schema_readiness,
)

with DAG(
    "nurture_quarterly_audit",
    schedule="0 8 1 1,4,7,10 *",
    **dag_settings(
        "Runbook quarterly audit: capacity and scaling needs, schema and recovery readiness",
        dagrun_timeout=timedelta(hours=2),
        execution_timeout=timedelta(minutes=30),
        retries=2,
        retry_delay=timedelta(minutes=5),
        tags=["quarterly"],
        doc_md=doc_md(__doc__),
    ),
):
    database_parts = [capacity_review(), schema_readiness()]
    probe_database(owns_alert=False) >> database_parts
    [*database_parts, recovery_readiness()] >> audit_summary()
