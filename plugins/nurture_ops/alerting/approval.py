"""Approval of a fix over its row cap: the alert DAG asks, a separate DAG waits for a human.

Over its cap a remediation changes nothing (remediation.guarded). For a fix that can run in capped
batches (remediation.BATCHED), the alert DAG's remediate task then triggers
`nurture_remediation_approval` with the fix's key, counts and a sample (`request_approval`), and goes
on: the alert DAGs (max_active_runs=1, short dagrun_timeout) never wait on a human. That DAG waits
with Airflow's human-in-the-loop ApprovalOperator (Required Actions in the UI; Reject by default when
nobody answers in time) and applies the fix in capped batches with the audit
(remediation.apply_in_batches).

The trigger goes through the Task SDK as TriggerDagRunOperator's does (a TriggerDagRun message to the
task's supervisor, which calls the api-server's execution API): Airflow 3 tasks never touch the
metadata database. The approval run's id is derived from the alert run, so a retry of the remediate
task finds the run it already requested instead of asking twice.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

APPROVAL_DAG_ID = "nurture_remediation_approval"
APPROVAL_TASK_ID = "approve"
REQUIRED_ACTIONS_PATH = "/required_actions?response_received=false"
# How long a request waits for a human before its default (Reject) applies; while a request may be
# pending, the alert's reminders do not ask again.
RESPONSE_TIMEOUT = timedelta(hours=24)
# A request younger than this is not repeated; a day later (the daily check's next run) it is, as the
# earlier one is about to time out.
ASK_AGAIN_AFTER = RESPONSE_TIMEOUT - timedelta(hours=1)


def approval_run_id(remediation_key: str, dag_id: str | None, run_id: str | None) -> str:
    """'approval__<fix>__<alert dag>__<alert run>' (characters Airflow's run ids allow)."""
    raw = f"approval__{remediation_key}__{dag_id or 'manual'}__{run_id or 'manual'}"
    return re.sub(r"[^A-Za-z0-9_.~:+-]", "_", raw)[:250]


def approval_conf(
    *,
    remediation_key: str,
    alert_key: str | None,
    rows_counted: int,
    max_rows: int,
    reason: str,
    sample: dict,
    requested_by: str | None,
) -> dict[str, Any]:
    """The approval DAG's params (what the human sees and what is applied after approval)."""
    return {
        "remediation_key": remediation_key,
        "alert_key": alert_key,
        "rows_counted": rows_counted,
        "max_rows": max_rows,
        "reason": reason,
        "sample": sample,
        "requested_by": requested_by,
    }


def approval_links(run_id: str, base_url: str = "") -> dict[str, str]:
    """Where a human answers: the run's task in the UI (its Required Actions tab), and the list."""
    base = base_url.rstrip("/")
    return {
        "request": f"{base}/dags/{APPROVAL_DAG_ID}/runs/{run_id}/tasks/{APPROVAL_TASK_ID}/required_actions",
        "required_actions": f"{base}{REQUIRED_ACTIONS_PATH}",
    }


def _base_url() -> str:
    try:
        from airflow.configuration import conf

        return conf.get("api", "base_url", fallback="") or ""
    except Exception:  # a link is a convenience; never fail the request for it
        return ""


def request_approval(conf: dict[str, Any], *, dag_id: str | None, run_id: str | None) -> dict[str, Any]:
    """Trigger nurture_remediation_approval with `conf` (inside a task); returns {dag_id, run_id,
    links, existed}. A run already requested by an earlier try is reused; any other refusal raises."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    approval_run = approval_run_id(conf["remediation_key"], dag_id, run_id)
    answer = SUPERVISOR_COMMS.send(
        TriggerDagRun(
            dag_id=APPROVAL_DAG_ID,
            run_id=approval_run,
            conf=conf,
            note=f"Requested by {dag_id}/{run_id}: {conf['rows_counted']:,} rows over the cap of {conf['max_rows']:,}",
        )
    )
    existed = False
    if isinstance(answer, ErrorResponse):
        if answer.error != ErrorType.DAGRUN_ALREADY_EXISTS:
            raise RuntimeError(
                f"Could not trigger {APPROVAL_DAG_ID} to approve {conf['remediation_key']}: {answer.error} "
                f"{answer.detail}. Is the DAG deployed and unpaused?"
            )
        existed = True
    return {
        "dag_id": APPROVAL_DAG_ID,
        "run_id": approval_run,
        "links": approval_links(approval_run, _base_url()),
        "existed": existed,
    }


def pending_request(conn, remediation_key: str, *, at: datetime) -> dict[str, Any] | None:
    """The request of this fix made within ASK_AGAIN_AFTER before `at` (the audit's record), if any."""
    from nurture_ops.alerting.state import SCHEMA
    from nurture_ops.core import db

    row = db.fetch_one(
        conn,
        "ops/select_recent_approval_request.sql",
        {"remediation_key": remediation_key, "since": at - ASK_AGAIN_AFTER},
        schema=SCHEMA,
    )
    if row is None or not row["run_id"]:
        return None
    return {
        "dag_id": row["dag_id"] or APPROVAL_DAG_ID,
        "run_id": row["run_id"],
        "links": approval_links(row["run_id"], _base_url()),
        "existed": True,
        "requested_at": row["evaluated_at"].isoformat(),
    }
