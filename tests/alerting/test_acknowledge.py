"""Operator actions on the alert state (the Lead Nurture page): acknowledge, silence, lift; the
resolve / acknowledge / silence interplay, and the record of who did what, when and why."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.evaluate import evaluate
from tests.builders import at

T0 = at("2026-06-01", 12)
REPEAT = timedelta(hours=4)
FAILURES = get_check("high_email_failure_rate")
BAD = {"total": 10, "failed": 5, "failure_rate": 50.0}
GOOD = {"total": 10, "failed": 0, "failure_rate": 0.0}
# Two levels: past the target (500 ms) a warning, past the alert level (2 s) critical.
SLOW = get_check("database_responding_slowly")


def slow(ms: int) -> dict:
    return {"timed_out_checks": 0, "sustained_query_ms": ms}


@pytest.fixture
def conn(leads_db):
    with psycopg.connect(leads_db, autocommit=True) as c:
        alert_state.ensure_schema(c)
        yield c


def step(conn, check, metrics, when, *, send=True):
    """One evaluation, delivered when due (as the notify task does); returns the decision."""
    finding = evaluate(check, metrics)
    decision = alert_state.record(conn, finding, evaluated_at=when, repeat_interval=REPEAT)
    if decision.due and send:
        severity = finding.status if decision.kind != "resolve" else None
        assert alert_state.deliver(
            conn, decision, lambda: None, severity=severity, text="x", slack_conn_id="s"
        )
    return decision


def actions(conn) -> list[tuple]:
    return conn.execute(
        "SELECT alert_key, scope, action, actor, reason, acted_at, announced_at "
        "FROM nurture_ops.alert_actions ORDER BY id"
    ).fetchall()


def test_an_acknowledged_alert_sends_no_reminder_and_its_resolve_ends_the_acknowledgement(conn):
    assert step(conn, FAILURES, BAD, T0).kind == "fire"
    alert_state.acknowledge(conn, FAILURES.key, by="alice", reason="on it", at=T0 + timedelta(minutes=1))
    assert alert_state.is_acknowledged(conn, FAILURES.key)

    held = step(conn, FAILURES, BAD, T0 + REPEAT)
    assert held.kind is None
    assert held.reason.startswith("acknowledged by alice at 2026-06-01T12:01:00+00:00")
    assert step(conn, FAILURES, BAD, T0 + 2 * REPEAT).kind is None

    assert step(conn, FAILURES, GOOD, T0 + 2 * REPEAT + timedelta(minutes=5)).kind == "resolve"
    assert not alert_state.is_acknowledged(conn, FAILURES.key)
    # It fires again later: a new incident, reminders as usual.
    later = T0 + 3 * REPEAT
    assert step(conn, FAILURES, BAD, later).kind == "fire"
    assert step(conn, FAILURES, BAD, later + REPEAT).kind == "remind"
    assert actions(conn) == [
        (FAILURES.key, "", "acknowledge", "alice", "on it", T0 + timedelta(minutes=1), None)
    ]


def test_an_acknowledgement_ends_when_the_alert_worsens_past_the_next_level(conn):
    assert evaluate(SLOW, slow(800)).status == "warning"
    assert evaluate(SLOW, slow(2500)).status == "critical"
    assert step(conn, SLOW, slow(800), T0).kind == "fire"
    alert_state.acknowledge(conn, SLOW.key, by="bob", reason="known load", at=T0)
    assert alert_state.is_acknowledged(conn, SLOW.key, severity="warning")
    assert not alert_state.is_acknowledged(conn, SLOW.key, severity="critical")
    # Worse, still a warning: covered.
    assert step(conn, SLOW, slow(1900), T0 + REPEAT).kind is None
    # Past the next level: sent at once, and reminders come back.
    escalated = step(conn, SLOW, slow(2500), T0 + REPEAT + timedelta(minutes=5))
    assert (escalated.kind, escalated.reason) == ("fire", "escalated")
    assert not alert_state.is_acknowledged(conn, SLOW.key)
    assert step(conn, SLOW, slow(2500), T0 + 2 * REPEAT + timedelta(minutes=5)).kind == "remind"


def test_only_a_firing_alert_can_be_acknowledged(conn):
    step(conn, FAILURES, GOOD, T0)
    with pytest.raises(LookupError, match="not firing"):
        alert_state.acknowledge(conn, FAILURES.key, by="alice", reason="x", at=T0)
    with pytest.raises(ValueError, match="reason"):
        alert_state.acknowledge(conn, FAILURES.key, by="alice", reason=" ", at=T0)
    assert actions(conn) == []


def test_silence_and_acknowledgement_interplay(conn):
    """Silenced: nothing is sent, not even the resolve; the acknowledgement still holds back
    reminders once the silence is lifted, and a lift is recorded with who and why."""
    assert step(conn, FAILURES, BAD, T0).kind == "fire"
    alert_state.acknowledge(conn, FAILURES.key, by="alice", reason="on it", at=T0)
    silence_id = alert_state.silence(
        conn,
        FAILURES.key,
        scope=None,
        starts_at=T0 + timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=8),
        by="bob",
        reason="SendGrid maintenance",
    )
    assert step(conn, FAILURES, BAD, T0 + REPEAT).reason.startswith("silenced until")
    lifted_at = T0 + REPEAT + timedelta(minutes=1)
    lifted = alert_state.lift_silence(conn, silence_id, by="carol", reason="maintenance over", at=lifted_at)
    assert lifted["ends_at"] == lifted_at
    with pytest.raises(LookupError, match="not in force"):
        alert_state.lift_silence(conn, silence_id, by="carol", reason="again", at=lifted_at)
    # After the silence: the end is news ("silence ended, still firing"), then no reminders.
    after = step(conn, FAILURES, BAD, T0 + REPEAT + timedelta(minutes=5))
    assert (after.kind, after.reason) == ("fire", "silence ended, still firing")
    assert step(conn, FAILURES, BAD, T0 + 2 * REPEAT + timedelta(minutes=5)).kind is None
    row = conn.execute(
        "SELECT lifted_by, lift_reason, created_by FROM nurture_ops.alert_silences WHERE id = %s",
        (silence_id,),
    ).fetchone()
    assert row == ("carol", "maintenance over", "bob")
    assert [(a[2], a[3], a[4]) for a in actions(conn)] == [
        ("acknowledge", "alice", "on it"),
        ("silence", "bob", "SendGrid maintenance"),
        ("lift", "carol", "maintenance over"),
    ]


def test_a_resolve_while_silenced_is_not_sent_and_ends_the_acknowledgement(conn):
    step(conn, FAILURES, BAD, T0)
    alert_state.acknowledge(conn, FAILURES.key, by="alice", reason="on it", at=T0)
    alert_state.silence(
        conn, FAILURES.key, scope="", starts_at=T0, ends_at=T0 + timedelta(hours=1), by="bob", reason="noise"
    )
    cleared = step(conn, FAILURES, GOOD, T0 + timedelta(minutes=5))
    assert (cleared.kind, cleared.reason) == (None, "cleared while silenced")
    assert not alert_state.is_acknowledged(conn, FAILURES.key)


def test_actions_are_reported_once_by_the_next_message(conn):
    step(conn, FAILURES, BAD, T0)
    alert_state.acknowledge(conn, FAILURES.key, by="alice <ops>", reason="fixing *now*", at=T0)
    pending = alert_state.unannounced_actions(conn, FAILURES.key, "")
    message = notify.alert_message(
        FAILURES, evaluate(FAILURES, GOOD), kind="resolve", operator_actions=pending
    )
    assert message["blocks"][-1]["text"]["text"] == (
        "*Operator actions*\n• Acknowledged by alice &lt;ops&gt; at 2026-06-01 12:00 UTC: fixing *now*"
    )
    alert_state.mark_actions_announced(conn, [a["id"] for a in pending], at=T0 + timedelta(minutes=5))
    assert alert_state.unannounced_actions(conn, FAILURES.key, "") == []


@pytest.mark.e2e
def test_the_next_slack_message_reports_the_acknowledgement_and_the_run_is_recorded(run_dag, db, slack_sink):
    """Under the 5-minute DAG: fire; acknowledged from the page; the reminder is held back; the
    resolve carries who acknowledged it, when and why, and only that message does."""
    import json

    from tests.alerting.test_alerts_5min_dag import add_window
    from tests.builders import Seed

    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign, lead = seed.campaign(org, "Welcome series"), seed.lead(org)
    add_window(seed, campaign, lead, T0, sent=28, failed=12)
    assert run_dag("nurture_alerts_5min", T0)["high_email_failure_rate.notify"] == "success"
    run = db.execute(
        "SELECT last_evaluated_run FROM nurture_ops.alert_state WHERE alert_key = %s", (FAILURES.key,)
    ).fetchone()[0]
    assert run.startswith("nurture_alerts_5min/")

    alert_state.acknowledge(
        db, FAILURES.key, by="alice", reason="SendGrid incident", at=T0 + timedelta(minutes=1)
    )
    later = T0 + REPEAT
    add_window(seed, campaign, lead, later, sent=10, failed=10)
    assert run_dag("nurture_alerts_5min", later)["high_email_failure_rate.notify"] == "skipped"  # no reminder

    add_window(seed, campaign, lead, later + timedelta(minutes=5), sent=50, failed=1)
    assert (
        run_dag("nurture_alerts_5min", later + timedelta(minutes=5))["high_email_failure_rate.notify"]
        == "success"
    )
    payloads = slack_sink.payloads()
    assert [p["text"][:10] for p in payloads] == ["[CRITICAL]", "[RESOLVED]"]
    assert "Acknowledged by alice at 2026-06-01 12:01 UTC: SendGrid incident" in json.dumps(
        payloads[1]["blocks"]
    )
    assert "Operator actions" not in json.dumps(payloads[0]["blocks"])
    assert alert_state.unannounced_actions(db, FAILURES.key, "") == []
    assert not alert_state.is_acknowledged(db, FAILURES.key)
