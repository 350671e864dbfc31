"""The doc_md of nurture_remediation_approval: which fixes, how the approval works, its params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nurture_ops.alerting.approval import APPROVAL_TASK_ID
from nurture_ops.alerting.remediation import BATCHED
from nurture_ops.core.catalog import REMEDIATIONS
from nurture_ops.core.docs import bullets, code, compose, params_table, section, value_text


def doc_md(intro: str, params: Mapping[str, Any], *, response_timeout) -> str:
    fixes = bullets(
        [
            f"{code(k)}: {REMEDIATIONS[k].description} (cap {value_text(REMEDIATIONS[k].max_rows)} rows per run)"
            for k in BATCHED
        ]
    )
    how = bullets(
        [
            "Triggered by an alert DAG's remediate task when a fix is over its cap (runbook 3, the "
            "common issues' fixes): the alert DAG does not wait.",
            f"{code(APPROVAL_TASK_ID)} waits in Airflow's Required Actions for Approve or Reject, at most "
            f"{response_timeout}; nobody answering rejects it (the default).",
            "Approved: the fix runs in batches of at most its cap, each counted, applied to the rows it "
            "counted and audited in nurture_ops.remediation_audit with who approved it.",
            "The outcome goes to Slack; the Lead Nurture page shows the audit rows.",
        ]
    )
    return compose(
        intro,
        section("Fixes that can be approved over their cap", fixes),
        section("How it works", how),
        section("Params (set by the alert DAG)", params_table(params)),
    )
