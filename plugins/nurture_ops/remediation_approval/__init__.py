"""nurture_remediation_approval: a fix over its row cap, approved (or not) by a human through
Airflow's Required Actions, then applied in capped batches with the audit (alerting.approval asks,
alerting.remediation.apply_in_batches applies)."""

from nurture_ops.alerting.approval import RESPONSE_TIMEOUT
from nurture_ops.remediation_approval.docs import doc_md as doc_md
from nurture_ops.remediation_approval.tasks import approval_tasks

__all__ = ["RESPONSE_TIMEOUT", "approval_tasks", "doc_md"]
