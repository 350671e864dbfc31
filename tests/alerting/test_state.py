"""alert_state against a real PostgreSQL: transitions, overlap safety, nothing lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.evaluate import evaluate
from tests.builders import at

CHECK = get_check("high_email_failure_rate")
T0 = at("2026-06-01", 12)
REPEAT = timedelta(hours=4)
BAD = {"total": 10, "failed": 5, "failure_rate": 50.0}
GOOD = {"total": 10, "failed": 0, "failure_rate": 0.0}


@pytest.fixture
def conn(leads_db):
    with psycopg.connect(leads_db, autocommit=True) as c:
        alert_state.ensure_schema(c)
        yield c


def decide(conn, row, when):
    return alert_state.record(conn, evaluate(CHECK, row), evaluated_at=when, repeat_interval=REPEAT)


def test_transitions(conn):
    sent = []
    first = decide(conn, BAD, T0)
    assert first.kind == "fire"
    assert alert_state.deliver(
        conn, first, lambda: sent.append(1), severity="critical", text="x", slack_conn_id="s"
    )
    assert decide(conn, BAD, T0 + timedelta(minutes=5)).kind is None
    assert decide(conn, BAD, T0 + REPEAT).kind == "remind"
    assert decide(conn, GOOD, T0 + REPEAT + timedelta(minutes=5)).kind == "resolve"


def test_failed_send_is_not_marked_and_is_decided_again(conn):
    first = decide(conn, BAD, T0)

    def boom():
        raise RuntimeError("slack down")

    with pytest.raises(RuntimeError):
        alert_state.deliver(conn, first, boom, severity="critical", text="x", slack_conn_id="s")
    again = decide(conn, BAD, T0 + timedelta(minutes=5))
    assert again.kind == "fire"


def test_overlapping_runs_deliver_once(conn, leads_db):
    """Two runs decided 'fire' from the same state; only one may send."""
    decisions = [decide(conn, BAD, T0), decide(conn, BAD, T0 + timedelta(seconds=1))]
    assert [d.kind for d in decisions] == ["fire", "fire"]
    sent, barrier = [], threading.Barrier(2)

    def worker(decision):
        with psycopg.connect(leads_db, autocommit=True) as own:
            barrier.wait()
            alert_state.deliver(
                own,
                decision,
                lambda: sent.append(decision.evaluated_at),
                severity="critical",
                text="x",
                slack_conn_id="s",
            )

    threads = [threading.Thread(target=worker, args=(d,)) for d in decisions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 1
    assert conn.execute("SELECT COUNT(*) FROM nurture_ops.alert_notifications").fetchone() == (1,)


def test_ensure_schema_is_safe_concurrently(leads_db):
    errors = []

    def create():
        try:
            with psycopg.connect(leads_db) as own:
                alert_state.ensure_schema(own)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_silence_end_is_announced_even_when_the_alert_was_paged_before_it(conn):
    first = decide(conn, BAD, T0)
    alert_state.deliver(conn, first, lambda: None, severity="critical", text="x", slack_conn_id="s")
    alert_state.add_silence(
        conn,
        CHECK.key,
        starts_at=T0 + timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
        reason="SendGrid incident",
    )
    silenced = decide(conn, BAD, T0 + timedelta(minutes=30))
    assert silenced.kind is None and silenced.silenced_until
    assert (
        decide(conn, {"total": 0, "failed": 0, "failure_rate": None}, T0 + timedelta(minutes=35)).kind is None
    )
    ended = decide(conn, BAD, T0 + timedelta(minutes=65))
    assert (ended.kind, ended.silence_ended) == ("fire", True)


def test_a_change_that_failed_to_reach_slack_is_sent_by_the_next_run(conn):
    from dataclasses import replace

    check = get_check("workflow_execution_stopped")
    one = {"stopped_workflows": 1, "stopped_names": "Lead Nurture - Email Sender"}
    two = {
        "stopped_workflows": 2,
        "stopped_names": "Lead Nurture - Email Sender, Lead Nurture - Message Scheduler",
    }

    def decide_workflows(row, when):
        finding = evaluate(replace(check), row)
        return alert_state.record(
            conn, finding, evaluated_at=when, repeat_interval=REPEAT, renotify_on_change="stopped_names"
        ), finding

    first, finding = decide_workflows(one, T0)
    alert_state.deliver(
        conn, first, lambda: None, severity="critical", text="x", slack_conn_id="s", value=finding.metrics
    )
    changed, _ = decide_workflows(two, T0 + timedelta(minutes=15))
    assert changed.kind == "fire"

    def slack_down():
        raise RuntimeError("500")

    with pytest.raises(RuntimeError):
        alert_state.deliver(conn, changed, slack_down, severity="critical", text="x", slack_conn_id="s")
    again, _ = decide_workflows(two, T0 + timedelta(minutes=30))
    assert again.kind == "fire" and again.reason.startswith("changed")


def test_an_evaluation_dated_in_the_future_moves_nothing(conn):
    from datetime import UTC, datetime

    future = datetime.now(UTC) + timedelta(days=1)
    assert decide(conn, BAD, future).reason.startswith("not recorded")
    assert decide(conn, BAD, T0).kind == "fire"  # the real runs are not made stale


def test_an_old_notify_does_not_send_after_a_later_evaluation(conn):
    old = decide(conn, BAD, T0)
    decide(conn, GOOD, T0 + timedelta(minutes=5))
    sent = []
    assert not alert_state.deliver(
        conn, old, lambda: sent.append(1), severity="critical", text="x", slack_conn_id="s"
    )
    assert sent == []


def finding(key, status, summary="", scope=""):
    from nurture_ops.core.evaluate import Finding

    return Finding(check_key=key, title=key, status=status, summary=summary, metrics={}, scope=scope)


def test_an_inhibited_alert_is_recorded_not_sent_and_named_by_its_root(conn):
    from nurture_ops.core.catalog import Inhibition

    def record(f, inhibitors=()):
        return alert_state.record(conn, f, evaluated_at=T0, repeat_interval=REPEAT, inhibitors=inhibitors)

    record(finding("workflow_execution_stopped", "critical", "stopped: Lead Nurture - Email Sender"))
    sender, scheduler = (
        Inhibition("workflow_execution_stopped", cause="Email Sender"),
        Inhibition("workflow_execution_stopped", cause="Message Scheduler"),
    )
    held = record(finding("stuck_queued_emails", "warning", "12 queued"), (sender,))
    assert (held.kind, held.inhibited_by) == (None, "workflow_execution_stopped")
    assert record(finding("overdue_enrollments", "warning", "3 overdue"), (scheduler,)).kind == "fire"
    assert record(finding("other", "warning", "x"), (Inhibition("workflow_execution_stopped"),)).inhibited_by
    assert [
        (r["alert_key"], r["last_summary"])
        for r in alert_state.held_back_by(conn, "workflow_execution_stopped")
    ] == [
        ("other", "x"),
        ("stuck_queued_emails", "12 queued"),
    ]


def test_send_once_sends_a_report_once_and_records_it(conn):
    sent = []
    kwargs = dict(text="digest", slack_conn_id="slack_warnings", evaluated_at=T0, dag_id="d", run_id="r")

    def boom():
        raise RuntimeError("slack down")

    with pytest.raises(RuntimeError):
        alert_state.send_once(conn, "daily_health_digest", "2026-05-31", boom, **kwargs)
    assert alert_state.send_once(conn, "daily_health_digest", "2026-05-31", lambda: sent.append(1), **kwargs)
    assert not alert_state.send_once(
        conn, "daily_health_digest", "2026-05-31", lambda: sent.append(2), **kwargs
    )
    assert sent == [1]
    assert conn.execute(
        "SELECT alert_key, scope, kind, severity, text, slack_conn_id, dag_id, run_id, evaluated_at "
        "FROM nurture_ops.alert_notifications"
    ).fetchall() == [
        ("daily_health_digest", "2026-05-31", "report", None, "digest", "slack_warnings", "d", "r", T0)
    ]
    assert conn.execute(
        "SELECT notified_state, last_notified_at, last_evaluated_at, last_summary, notifications_sent "
        "FROM nurture_ops.alert_state"
    ).fetchone() == ("resolved", T0, T0, "digest", 1)


def test_send_unless_repeated_holds_back_the_same_text_within_the_interval(conn):
    sent = []

    def send(text, when):
        return alert_state.send_unless_repeated(
            conn, "task_failed", "dag.task", text, lambda: sent.append((text, when)), at=when, repeat=REPEAT
        )

    assert send("boom", T0)
    assert not send("boom", T0 + timedelta(hours=1))
    assert send("other", T0 + timedelta(hours=2))  # a new text at once
    assert send("other", T0 + timedelta(hours=6))  # the same text after the interval
    assert [t for t, _ in sent] == ["boom", "other", "other"]
    assert conn.execute(
        "SELECT firing, status, last_summary, last_notified_at, notifications_sent FROM nurture_ops.alert_state"
    ).fetchone() == (True, "critical", "other", T0 + timedelta(hours=6), 3)


def test_end_silence_ends_it_at_the_instant_but_never_before_it_began(conn):
    one = alert_state.add_silence(conn, CHECK.key, starts_at=T0, ends_at=T0 + REPEAT, reason="maintenance")
    two = alert_state.add_silence(conn, CHECK.key, starts_at=T0, ends_at=T0 + REPEAT, reason="maintenance")
    alert_state.end_silence(conn, one, at=T0 + timedelta(minutes=20))
    alert_state.end_silence(conn, two, at=T0 - timedelta(hours=1))
    ends = dict(conn.execute("SELECT id, ends_at FROM nurture_ops.alert_silences").fetchall())
    assert ends == {one: T0 + timedelta(minutes=20), two: T0 + timedelta(seconds=1)}


def test_delivery_never_runs_inside_a_callers_transaction_block(conn, leads_db):
    """The intent must be committed before the post: an open transaction of a non-autocommit
    caller is committed first; inside a transaction block (either mode) delivery refuses."""
    first = decide(conn, BAD, T0)
    sent = []
    with (
        psycopg.connect(leads_db, autocommit=True) as auto,
        auto.transaction(),
        pytest.raises(RuntimeError, match="must not run inside a transaction"),
    ):
        alert_state.deliver(
            auto, first, lambda: sent.append(1), severity="critical", text="x", slack_conn_id="s"
        )
    with psycopg.connect(leads_db) as manual:
        with manual.transaction(), pytest.raises(psycopg.ProgrammingError):
            alert_state.deliver(
                manual, first, lambda: sent.append(2), severity="critical", text="x", slack_conn_id="s"
            )
        alert_state.held_back_by(manual, CHECK.key)  # a read: opens an implicit transaction
        observed = []

        def send():  # what another session sees while Slack is called
            observed.append(
                conn.execute(
                    "SELECT sending_kind FROM nurture_ops.alert_state WHERE alert_key = %s", (CHECK.key,)
                ).fetchone()
            )
            sent.append(3)

        assert alert_state.deliver(manual, first, send, severity="critical", text="x", slack_conn_id="s")
        assert manual.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert sent == [3]
    assert observed == [("fire",)]  # the intent was committed before the post
