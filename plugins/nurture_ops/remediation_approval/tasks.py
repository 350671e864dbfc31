"""Tasks of nurture_remediation_approval: check the request, wait for a human (Airflow's
ApprovalOperator: Approve / Reject, Reject when nobody answers in time), apply the approved fix in
capped batches with the audit, report the outcome to Slack."""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from nurture_ops.alerting import notify
from nurture_ops.alerting.approval import APPROVAL_TASK_ID
from nurture_ops.alerting.remediation import RunInfo, apply_in_batches
from nurture_ops.core import db
from nurture_ops.core.catalog import REMEDIATIONS
from nurture_ops.core.errors import rejected_input
from nurture_ops.core.settings import load_settings
from nurture_ops.core.windows import run_time
from nurture_ops.remediation_approval.logic import REJECT, decision, outcome_lines, parse_request

log = logging.getLogger(__name__)

SUBJECT = (
    "Approve {{ params.remediation_key }}: {{ params.rows_counted }} rows over the cap of "
    "{{ params.max_rows }} ({{ params.alert_key }})"
)
BODY = """\
{{ params.reason }}

**Approve** applies the fix in batches of at most {{ params.max_rows }} rows, each counted, applied to
the rows it counted only and recorded in `nurture_ops.remediation_audit` with your name.
**Reject** (also what happens when nobody answers in time) changes nothing.

Requested by `{{ params.requested_by }}`. A sample of what would change:
`{{ params.sample }}`
"""


@task(task_id="check_request")
def check_request() -> dict:
    """Bad params fail here, before anyone is asked (not retried)."""
    with rejected_input():
        request = parse_request(dict(get_current_context()["params"]))
    log.info("Approval requested: %s", request)
    return {"remediation_key": request.remediation_key, "rows_counted": request.rows_counted}


ANSWER_XCOM = "answer"


class RemediationApproval(ApprovalOperator):
    """Airflow's ApprovalOperator, recording the answer (chosen option, who, timed out) in XCom
    "answer" first: on Reject the operator skips its downstream tasks by raising, so its return
    value is never stored, and the report still has to say who rejected it."""

    def execute_complete(self, context, event):
        if "error" not in event:
            context["ti"].xcom_push(
                key=ANSWER_XCOM,
                value={
                    "chosen_options": list(event.get("chosen_options") or []),
                    "responded_by_user": event.get("responded_by_user"),
                    "timedout": bool(event.get("timedout")),
                },
            )
        return super().execute_complete(context, event)


def approve(response_timeout: timedelta) -> ApprovalOperator:
    return RemediationApproval(
        task_id=APPROVAL_TASK_ID,
        subject=SUBJECT,
        body=BODY,
        defaults=REJECT,
        response_timeout=response_timeout,
    )


@task(task_id="apply_in_batches")
def apply_approved() -> dict:
    """The approved fix in batches of at most its cap (the smaller of the cap when asked and the
    cap now), each batch with its audit row naming who approved it."""
    context = get_current_context()
    ti = context["ti"]
    answer = decision(ti.xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_XCOM))
    if not answer["approved"]:
        raise AirflowSkipException(answer["how"])
    with rejected_input():
        request = parse_request(dict(context["params"]))
    spec = REMEDIATIONS[request.remediation_key]
    _, _, cap_now = load_settings().remediation(spec.key)
    run = RunInfo(ti.dag_id, ti.run_id, ti.task_id, run_time(context))
    with db.connect(purpose="write") as conn:
        applied = apply_in_batches(
            conn,
            spec,
            cap=min(request.max_rows, cap_now),
            approved_rows=request.rows_counted,
            approved_by=answer["by"],
            run=run,
            alert_key=request.alert_key,
        )
    log.info("%s: %s", spec.key, {k: v for k, v in applied.items() if k != "results"})
    return applied


@task(task_id="report", trigger_rule=TriggerRule.ALL_DONE)
def report() -> str:
    """One Slack message: approved (and what changed) or rejected, by whom, or timed out."""
    context = get_current_context()
    ti = context["ti"]
    with rejected_input():
        request = parse_request(dict(context["params"]))
    answer = decision(ti.xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_XCOM))
    summary, sections = outcome_lines(request, answer, ti.xcom_pull(task_ids="apply_in_batches"))
    return notify.post_report("Remediation approval", sections, summary=summary)


def approval_tasks(response_timeout: timedelta) -> None:
    checked = check_request()
    waiting = approve(response_timeout)
    applied = apply_approved()
    checked >> waiting >> applied >> report()
