"""Approval of a fix over its cap: the request's params, the decision (approve, reject, timeout),
the DAG's shape (Airflow's ApprovalOperator, Reject by default), and the approved fix applied in
capped batches through guarded() with one audit row per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator

from nurture_ops.alerting import approval
from nurture_ops.alerting.remediation import RunInfo, apply_in_batches
from nurture_ops.core.catalog import REMEDIATIONS
from nurture_ops.remediation_approval.logic import decision, outcome_lines, parse_request
from tests.builders import BASE_TIME, Seed

SPEC = REMEDIATIONS["invalidate_hard_bounce_leads"]
RUN = RunInfo(
    "nurture_remediation_approval", "manual__1", "apply_in_batches", datetime(2026, 5, 4, 7, tzinfo=UTC)
)
REQUEST = {
    "remediation_key": SPEC.key,
    "alert_key": "high_bounce_rate",
    "rows_counted": 14,
    "max_rows": 4,
    "reason": "14 rows would change, over the cap of 4",
    "sample": {"lead_ids": [1, 2]},
    "requested_by": "nurture_daily_health/scheduled__x",
}


def seed_hard_bounces(db, leads: int) -> tuple[list[int], list[int]]:
    """`leads` leads with a hard bounce and one active enrollment each (2 rows per lead)."""
    seed = Seed(db)
    org = seed.org()
    campaign = seed.campaign(org)
    lead_ids, enrollment_ids = [], []
    for _ in range(leads):
        lead = seed.lead(org)
        enrollment_ids.append(seed.enrollment(lead, campaign, status="active"))
        seed.send(lead, campaign, status="bounced", bounce_type="hard", sent_at=BASE_TIME)
        lead_ids.append(lead)
    return lead_ids, enrollment_ids


def test_an_approved_fix_runs_in_capped_batches_each_audited(leads_db, db):
    lead_ids, enrollment_ids = seed_hard_bounces(db, 7)
    with psycopg.connect(leads_db) as conn:  # each batch is one transaction
        applied = apply_in_batches(conn, SPEC, cap=4, approved_rows=14, approved_by="alice", run=RUN)

    assert (applied["batches"], applied["rows_counted"], applied["rows_changed"]) == (4, 14, 14)
    assert applied["stopped"] == "every approved row was counted into a batch"
    audit = db.execute(
        "SELECT outcome, rows_counted, rows_changed, reason, detail ->> 'approved_by', dag_id, task_id "
        "FROM nurture_ops.remediation_audit ORDER BY id"
    ).fetchall()
    assert audit == [
        (
            "applied",
            rows,
            rows,
            f"approved over the cap by alice: batch {n} (up to 4 rows)",
            "alice",
            RUN.dag_id,
            RUN.task_id,
        )
        for n, rows in enumerate((4, 4, 4, 2), 1)
    ]
    invalid = db.execute(
        "SELECT id FROM leads WHERE metadata ->> 'email_invalid' = 'true' ORDER BY id"
    ).fetchall()
    assert [r[0] for r in invalid] == lead_ids
    completed = db.execute(
        "SELECT id FROM lead_campaign_enrollments WHERE completion_reason = 'invalid_email' ORDER BY id"
    ).fetchall()
    assert [r[0] for r in completed] == enrollment_ids


def test_no_more_than_the_rows_approved_change(leads_db, db):
    """Rows that appeared after the approval wait for the next alert."""
    seed_hard_bounces(db, 5)
    with psycopg.connect(leads_db) as conn:
        applied = apply_in_batches(conn, SPEC, cap=4, approved_rows=6, approved_by="alice", run=RUN)
    assert (applied["batches"], applied["rows_changed"]) == (2, 6)
    left = db.execute("SELECT COUNT(*) FROM leads WHERE metadata ->> 'email_invalid' IS NULL").fetchone()[0]
    assert left == 2


def test_nothing_left_stops_at_once(leads_db, db):
    with psycopg.connect(leads_db) as conn:
        applied = apply_in_batches(conn, SPEC, cap=4, approved_rows=10, approved_by="alice", run=RUN)
    assert (applied["batches"], applied["rows_changed"], applied["stopped"]) == (
        1,
        0,
        "nothing left to change",
    )


def test_a_fix_without_batches_is_refused(leads_db):
    with psycopg.connect(leads_db) as conn, pytest.raises(ValueError, match="cannot be applied in batches"):
        apply_in_batches(
            conn, REMEDIATIONS["pause_sender_workflow"], cap=1, approved_rows=2, approved_by="a", run=RUN
        )


def test_the_request_params_are_checked():
    assert parse_request(REQUEST).rows_counted == 14
    with pytest.raises(ValueError, match="param remediation_key"):
        parse_request({**REQUEST, "remediation_key": "pause_sender_workflow"})
    with pytest.raises(ValueError, match="param max_rows must be a positive integer, got 0"):
        parse_request({**REQUEST, "max_rows": 0})
    with pytest.raises(ValueError, match="param rows_counted"):
        parse_request({**REQUEST, "rows_counted": "14"})


def test_approve_reject_and_timeout():
    alice = {"id": "alice", "name": "alice"}
    assert decision({"chosen_options": ["Approve"], "responded_by_user": alice}) == {
        "approved": True,
        "by": "alice",
        "how": "approved by alice",
    }
    assert decision({"chosen_options": ["Reject"], "responded_by_user": alice})["how"] == "rejected by alice"
    # The timeout applies the default (Reject) with nobody responding.
    timed_out = decision({"chosen_options": ["Reject"], "responded_by_user": None})
    assert timed_out == {"approved": False, "by": None, "how": "nobody answered in time: rejected by default"}
    assert decision(None)["approved"] is False
    summary, sections = outcome_lines(parse_request(REQUEST), timed_out, None)
    assert summary == "Invalidate hard-bounced leads: nobody answered in time: rejected by default"
    assert sections[0].endswith("Nothing was changed.")


def test_the_approval_dag_waits_for_a_human_and_rejects_by_default(dagbag):
    dag = dagbag.get_dag(approval.APPROVAL_DAG_ID)
    approve = dag.get_task(approval.APPROVAL_TASK_ID)
    assert isinstance(approve, ApprovalOperator)
    assert approve.options == ["Approve", "Reject"]
    assert approve.defaults == ["Reject"]
    assert approve.response_timeout == timedelta(hours=24)
    assert dag.dagrun_timeout > approve.response_timeout
    assert dag.schedule is None
    assert dag.get_task("check_request").downstream_task_ids == {"approve"}
    assert approve.downstream_task_ids == {"apply_in_batches"}
    assert dag.get_task("report").trigger_rule == "all_done"


def test_the_request_links_to_required_actions():
    run_id = approval.approval_run_id(
        SPEC.key, "nurture_daily_health", "scheduled__2026-05-04T07:00:00+00:00"
    )
    assert (
        run_id
        == "approval__invalidate_hard_bounce_leads__nurture_daily_health__scheduled__2026-05-04T07:00:00+00:00"
    )
    assert approval.approval_links(run_id, "http://127.0.0.1:8080/") == {
        "request": f"http://127.0.0.1:8080/dags/nurture_remediation_approval/runs/{run_id}/tasks/approve/required_actions",
        "required_actions": "http://127.0.0.1:8080/required_actions?response_received=false",
    }


def test_a_request_is_not_repeated_while_it_may_be_pending(db):
    from nurture_ops.alerting.remediation import audit
    from nurture_ops.alerting.state import ensure_schema

    ensure_schema(db)
    asked_at = RUN.evaluated_at
    assert approval.pending_request(db, SPEC.key, at=asked_at) is None
    audit(
        db,
        SPEC,
        mode="apply",
        outcome="approval_requested",
        rows_counted=14,
        rows_changed=0,
        reason="over the cap",
        detail={"approval_dag_id": approval.APPROVAL_DAG_ID, "approval_run_id": "approval__x"},
        run=RUN,
        alert_key="high_bounce_rate",
    )
    reminder = approval.pending_request(db, SPEC.key, at=asked_at + timedelta(hours=4))
    assert (reminder["run_id"], reminder["existed"]) == ("approval__x", True)
    assert approval.pending_request(db, SPEC.key, at=asked_at + timedelta(days=1)) is None  # asked again
    assert approval.pending_request(db, "recompute_missing_analytics", at=asked_at) is None
