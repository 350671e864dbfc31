"""
### Lead nurture — approve a fix over its cap (triggered by the alert DAGs)

A runbook fix over its row cap changes nothing in the alert DAG (runbook 3, the common issues'
fixes; the cap bounds one unattended run). This DAG asks a human instead, in Airflow's *Required
Actions*, and applies the fix in capped batches once approved. It is triggered by the alert DAG with
the fix's key, counts and a sample; the alert DAGs never wait for it.
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import dag_settings
from nurture_ops.remediation_approval import RESPONSE_TIMEOUT, approval_tasks, doc_md

PARAMS = {
    "remediation_key": Param("invalidate_hard_bounce_leads", type="string", title="Fix (catalog key)"),
    "alert_key": Param(None, type=["null", "string"], title="The alert it fixes"),
    "rows_counted": Param(1, type="integer", minimum=1, title="Rows counted over the cap"),
    "max_rows": Param(1, type="integer", minimum=1, title="The cap per batch"),
    "reason": Param("", type="string", title="Why (the alert's message)"),
    "sample": Param({}, type="object", title="A sample of the rows"),
    "requested_by": Param(None, type=["null", "string"], title="The alert run that asked"),
}

with DAG(
    "nurture_remediation_approval",
    schedule=None,
    **dag_settings(
        "Approve a runbook fix over its row cap (Required Actions), then apply it in capped batches",
        dagrun_timeout=RESPONSE_TIMEOUT + timedelta(hours=2),
        execution_timeout=timedelta(minutes=30),
        retries=1,
        retry_delay=timedelta(minutes=1),
        tags=["remediation"],
        doc_md=doc_md(__doc__, PARAMS, response_timeout=RESPONSE_TIMEOUT),
        params=PARAMS,
        max_active_runs=5,
    ),
):
    approval_tasks(RESPONSE_TIMEOUT)
