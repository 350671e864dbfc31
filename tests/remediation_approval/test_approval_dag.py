"""nurture_remediation_approval end to end with dag.test(): the approval waits in Airflow's
awaiting_input state; a human answers through the api-server's own HITL endpoint (in-process app,
same metadata database), or nobody does and the scheduler's timeout sweep applies the default
(Reject). Approved: the fix runs in capped batches with the audit, and Slack hears the outcome."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from nurture_ops.alerting import approval
from tests.builders import at
from tests.ops_page.conftest import airflow_app, token_for  # noqa: F401  (fixture)
from tests.remediation_approval.test_approval import REQUEST, seed_hard_bounces

pytestmark = pytest.mark.e2e
DAG_ID = approval.APPROVAL_DAG_ID
RUN_AT = at("2026-05-04", 7)
HITL_LIST = f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails"


def answer_when_asked(client, token: str, respond, errors: list) -> threading.Thread:
    """In the background: wait for the pending request, then `respond(client, detail)`."""

    def run() -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                body = client.get(HITL_LIST, headers={"Authorization": f"Bearer {token}"}).json()
                pending = [d for d in body.get("hitl_details", []) if not d["response_received"]]
                if pending:
                    respond(client, pending[0])
                    return
                time.sleep(0.5)
            errors.append("no pending approval within 120 s")
        except Exception as exc:  # reported by the test
            errors.append(repr(exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_approved_by_a_human_the_fix_runs_in_capped_batches(run_dag, airflow_app, db, slack_sink):  # noqa: F811
    from fastapi.testclient import TestClient

    lead_ids, _ = seed_hard_bounces(db, 7)
    client = TestClient(airflow_app, base_url="http://127.0.0.1:8080")
    token = token_for("admin", "admin")
    responses, errors = [], []

    def approve(client, detail) -> None:
        ti = detail["task_instance"]
        assert detail["subject"] == (
            f"Approve {REQUEST['remediation_key']}: 14 rows over the cap of 4 ({REQUEST['alert_key']})"
        )
        assert detail["defaults"] == ["Reject"]
        response = client.patch(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/-1/hitlDetails",
            json={"chosen_options": ["Approve"], "params_input": {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        responses.append(response.status_code)

    thread = answer_when_asked(client, token, approve, errors)
    states = run_dag(DAG_ID, RUN_AT, run_conf=REQUEST)
    thread.join(timeout=5)

    assert errors == [] and responses == [200]
    assert states["__run__"] == "success", states
    assert (states["approve"], states["apply_in_batches"], states["report"]) == ("success",) * 3
    audit = db.execute(
        "SELECT outcome, rows_counted, detail ->> 'approved_by', dag_id FROM nurture_ops.remediation_audit ORDER BY id"
    ).fetchall()
    assert audit == [("applied", rows, "admin", DAG_ID) for rows in (4, 4, 4, 2)]
    marked = db.execute("SELECT COUNT(*) FROM leads WHERE metadata ->> 'email_invalid' = 'true'").fetchone()[
        0
    ]
    assert marked == len(lead_ids)
    assert [p["text"] for p in slack_sink.payloads()] == [
        "[INFO] Remediation approval: Invalidate hard-bounced leads: approved by admin, 14 rows changed"
    ]


def test_nobody_answering_rejects_by_default_and_changes_nothing(run_dag, db, slack_sink):
    """The scheduler's sweep (check_awaiting_input_timeouts) once the response timeout has passed."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    seed_hard_bounces(db, 3)
    errors: list = []

    def time_out() -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with create_session() as session:
                    waiting = (
                        session.query(TaskInstance)
                        .filter(
                            TaskInstance.dag_id == DAG_ID,
                            TaskInstance.task_id == approval.APPROVAL_TASK_ID,
                            TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                        )
                        .all()
                    )
                    if waiting:
                        for ti in waiting:  # as if the 24 h had passed
                            ti.trigger_timeout = ti.trigger_timeout - timedelta(hours=25)
                        session.commit()
                        SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()
                        return
                time.sleep(0.5)
            errors.append("the approval never waited for input")
        except Exception as exc:
            errors.append(repr(exc))

    thread = threading.Thread(target=time_out, daemon=True)
    thread.start()
    states = run_dag(DAG_ID, RUN_AT + timedelta(hours=1), run_conf={**REQUEST, "rows_counted": 6})
    thread.join(timeout=5)

    assert errors == []
    assert (states["approve"], states["apply_in_batches"], states["report"]) == (
        "success",
        "skipped",
        "success",
    )
    assert (
        db.execute("SELECT COUNT(*) FROM leads WHERE metadata ->> 'email_invalid' = 'true'").fetchone()[0]
        == 0
    )
    assert [p["text"] for p in slack_sink.payloads()] == [
        "[INFO] Remediation approval: Invalidate hard-bounced leads: nobody answered in time: rejected by default"
    ]


def test_rejected_by_a_human_nothing_changes(run_dag, airflow_app, db, slack_sink):  # noqa: F811
    from fastapi.testclient import TestClient

    seed_hard_bounces(db, 3)
    client = TestClient(airflow_app, base_url="http://127.0.0.1:8080")
    token = token_for("admin", "admin")
    errors: list = []

    def reject(client, detail) -> None:
        ti = detail["task_instance"]
        client.patch(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/-1/hitlDetails",
            json={"chosen_options": ["Reject"], "params_input": {}},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()

    thread = answer_when_asked(client, token, reject, errors)
    states = run_dag(DAG_ID, RUN_AT + timedelta(hours=2), run_conf={**REQUEST, "rows_counted": 6})
    thread.join(timeout=5)

    assert errors == []
    assert (states["approve"], states["apply_in_batches"]) == ("success", "skipped")
    assert (
        db.execute("SELECT TO_REGCLASS('nurture_ops.remediation_audit')").fetchone()[0] is None
    )  # untouched
    assert (
        db.execute("SELECT COUNT(*) FROM leads WHERE metadata ->> 'email_invalid' = 'true'").fetchone()[0]
        == 0
    )
    assert [p["text"] for p in slack_sink.payloads()] == [
        "[INFO] Remediation approval: Invalidate hard-bounced leads: rejected by admin"
    ]
