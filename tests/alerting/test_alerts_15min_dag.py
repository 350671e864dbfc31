"""nurture_alerts_15min end to end: stopped workflows, stuck queue, overdue enrollments, inhibition."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from nurture_ops.core.catalog import SCHEDULER, SENDER
from tests.builders import Seed, at

pytestmark = pytest.mark.e2e

T0 = at("2026-06-01", 12, 0)
DAG_ID = "nurture_alerts_15min"


def texts(sink) -> list[str]:
    return [p["text"] for p in sink.payloads()]


@pytest.fixture
def world(db):
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)
    return seed, campaign, lead


def run_workflows(seed: Seed, end, *, scheduler: bool = True, sender: bool = True, minutes: int = 15):
    for minute in range(1, minutes + 1):
        if scheduler:
            seed.execution(SCHEDULER, at=end - timedelta(minutes=minute))
        if sender:
            seed.execution(SENDER, at=end - timedelta(minutes=minute))


def test_healthy_system_sends_nothing(run_dag, world, slack_sink):
    seed, campaign, lead = world
    run_workflows(seed, T0)
    seed.enrollment(lead, campaign, next_send_at=T0 + timedelta(minutes=30))
    states = run_dag(DAG_ID, T0)
    assert states["__run__"] == "success"
    assert slack_sink.payloads() == []
    for key in ("workflow_execution_stopped", "emails_stuck_queued", "overdue_enrollments"):
        assert states[f"{key}.nothing_to_do"] == "success"


def test_stopped_scheduler_holds_back_overdue_enrollments_and_names_them(run_dag, world, slack_sink, db):
    seed, campaign, lead = world
    run_workflows(seed, T0, scheduler=False)
    seed.execution(SCHEDULER, at=T0 - timedelta(minutes=40))
    for _ in range(3):
        seed.enrollment(lead, campaign, next_send_at=T0 - timedelta(hours=1))

    states = run_dag(DAG_ID, T0)
    assert states["__run__"] == "success"
    assert texts(slack_sink) == [
        "[CRITICAL] Workflow Execution Stopped: 1 workflow(s) without an execution in the last 15 minutes: "
        f"{SCHEDULER} (threshold 0)"
    ]
    body = json.dumps(slack_sink.payloads()[0]["blocks"])
    assert "Held back while this fires" in body
    assert "overdue_enrollments: 3 active enrollments" in body
    assert "2026-06-01 11:20 UTC" in body  # the scheduler's last execution
    state = db.execute(
        "SELECT firing, inhibited_by FROM nurture_ops.alert_state WHERE alert_key = 'overdue_enrollments'"
    ).fetchone()
    assert state == (True, "workflow_execution_stopped")

    # The scheduler is back: the workflow alert resolves, and the overdue enrollments (still
    # there) now page on their own, as a warning.
    run_workflows(seed, T0 + timedelta(minutes=15))
    run_dag(DAG_ID, T0 + timedelta(minutes=15))
    assert sorted(texts(slack_sink)[1:]) == [
        "[RESOLVED] Workflow Execution Stopped: 0 workflow(s) without an execution in the last 15 minutes: none "
        "(threshold 0)",
        "[WARNING] Overdue Enrollments: 3 active enrollments are more than 15 minutes past next_send_at (threshold 0)",
    ]


def test_never_run_workflow_counts_as_stopped(run_dag, world, slack_sink):
    seed, _, _ = world
    run_workflows(seed, T0, sender=False)
    run_dag(DAG_ID, T0)
    assert texts(slack_sink) == [
        "[CRITICAL] Workflow Execution Stopped: 1 workflow(s) without an execution in the last 15 minutes: "
        f"{SENDER} (threshold 0)"
    ]
    assert "never" in json.dumps(slack_sink.payloads()[0]["blocks"])


def test_stuck_queued_emails_with_diagnosis(run_dag, world, slack_sink):
    seed, campaign, lead = world
    run_workflows(seed, T0)
    for minutes in (61, 90, 180):
        seed.send(lead, campaign, status="queued", created_at=T0 - timedelta(minutes=minutes))
    seed.send(lead, campaign, status="queued", created_at=T0 - timedelta(minutes=30))  # not stuck yet
    for _ in range(2):
        seed.send(
            lead, campaign, status="failed", created_at=T0 - timedelta(hours=2), failure_reason="SendGrid 401"
        )
    run_dag(DAG_ID, T0)
    assert texts(slack_sink) == [
        "[CRITICAL] Emails Stuck in Queued Status: 3 emails queued and scheduled more than 60 minutes ago "
        "(oldest scheduled 180 minutes ago) (threshold 0)"
    ]
    body = json.dumps(slack_sink.payloads()[0]["blocks"])
    assert "SendGrid 401: 2" in body
    assert "Acme Corp: 3" in body
    assert "Email Sender workflow sends queued emails" in body


def test_a_stopped_sender_holds_back_the_stuck_queue_but_a_stopped_scheduler_does_not(
    run_dag, world, slack_sink
):
    seed, campaign, lead = world
    run_workflows(seed, T0, scheduler=False)  # the scheduler stopped, the sender runs
    seed.send(lead, campaign, status="queued", created_at=T0 - timedelta(minutes=90))
    run_dag(DAG_ID, T0)
    assert sorted(t.split(":")[0] for t in texts(slack_sink)) == [
        "[CRITICAL] Emails Stuck in Queued Status",  # not the scheduler's consequence: pages
        "[CRITICAL] Workflow Execution Stopped",
    ]

    slack_sink.clear()
    later = T0 + timedelta(minutes=15)
    run_workflows(seed, later, sender=False)  # now the sender stopped, the scheduler is back
    run_dag(DAG_ID, later)
    texts_now = texts(slack_sink)
    assert not [
        t for t in texts_now if t.startswith("[CRITICAL] Emails Stuck")
    ]  # held back, already paged anyway
    assert any(t.startswith("[CRITICAL] Workflow Execution Stopped") and SENDER in t for t in texts_now)


def test_a_failing_root_check_does_not_stop_its_consequences_from_paging(run_dag, world, slack_sink, db):
    seed, campaign, lead = world
    seed.send(lead, campaign, status="queued", created_at=T0 - timedelta(minutes=90))
    db.execute("ALTER TABLE workflow_executions RENAME TO workflow_executions_moved")
    states = run_dag(DAG_ID, T0)
    assert states["workflow_execution_stopped.measure"] == "failed"
    assert states["emails_stuck_queued.decide"] == "success"
    sent = texts(slack_sink)
    assert any(t.startswith("[CRITICAL] Emails Stuck in Queued Status: 1 emails") for t in sent)
    assert any(
        t.startswith("[CRITICAL] Task failed: nurture_alerts_15min.workflow_execution_stopped.measure")
        for t in sent
    )


def test_silenced_alert_is_recorded_not_sent_and_announced_when_the_silence_ends(
    run_dag, world, slack_sink, db
):
    from nurture_ops.alerting import state as alert_state

    seed, _, _ = world
    run_workflows(seed, T0 + timedelta(hours=1), sender=False, minutes=75)
    alert_state.ensure_schema(db)
    alert_state.add_silence(
        db,
        "workflow_execution_stopped",
        starts_at=T0 - timedelta(hours=1),
        ends_at=T0 + timedelta(minutes=20),
        reason="N8n upgrade",
    )
    run_dag(DAG_ID, T0)
    assert slack_sink.payloads() == []
    assert db.execute(
        "SELECT firing, silenced FROM nurture_ops.alert_state WHERE alert_key = 'workflow_execution_stopped'"
    ).fetchone() == (True, True)

    run_dag(DAG_ID, T0 + timedelta(minutes=30))
    assert len(slack_sink.payloads()) == 1
    assert slack_sink.payloads()[0]["text"].startswith("[CRITICAL] Workflow Execution Stopped")
    assert "A silence on this alert has ended and it still fires" in json.dumps(
        slack_sink.payloads()[0]["blocks"]
    )


def test_rerun_of_a_past_window_moves_no_state(run_dag, world, slack_sink, db):
    seed, _, _ = world
    run_workflows(seed, T0 + timedelta(minutes=15), minutes=45)
    run_dag(DAG_ID, T0 + timedelta(minutes=15))
    assert slack_sink.payloads() == []
    # Clearing an older run: its window (no executions before T0 - 30 min) would look stopped.
    run_dag(DAG_ID, T0 - timedelta(minutes=45))
    assert slack_sink.payloads() == []
    assert db.execute(
        "SELECT firing FROM nurture_ops.alert_state WHERE alert_key = 'workflow_execution_stopped'"
    ).fetchone() == (False,)


def test_database_down_holds_everything_back_silently(run_dag, world, slack_sink, monkeypatch):
    from tests.conftest import leads_db_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))
    states = run_dag(DAG_ID, T0)
    assert states["database_unreachable"] == "success"
    assert states["workflow_execution_stopped.measure"] == "skipped"
    assert slack_sink.payloads() == []  # the 5-minute DAG owns Database Connection Lost


def test_warnings_go_to_slack_warnings_when_it_exists(run_dag, world, slack_sink, monkeypatch, tmp_path):
    from dev.slack_sink import SlackSink

    seed, campaign, lead = world
    run_workflows(seed, T0)
    seed.enrollment(lead, campaign, next_send_at=T0 - timedelta(hours=1))  # overdue: a warning
    seed.send(lead, campaign, status="queued", created_at=T0 - timedelta(minutes=90))  # stuck: critical
    with SlackSink(port=0, jsonl_path=tmp_path / "warnings.jsonl", quiet=True) as warnings_sink:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_WARNINGS", warnings_sink.connection_json())
        run_dag(DAG_ID, T0)
        warnings = [p["text"] for p in warnings_sink.payloads()]
    assert [t.split(":")[0] for t in warnings] == ["[WARNING] Overdue Enrollments"]
    assert [t.split(":")[0] for t in texts(slack_sink)] == ["[CRITICAL] Emails Stuck in Queued Status"]
