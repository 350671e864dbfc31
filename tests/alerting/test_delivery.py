"""Delivery without a lock held on Slack (state.py, "Delivery"): real PostgreSQL, real HTTP.

The Slack stand-in here is the sink of dev/slack_sink.py with its answer held back: it records
the payload (Slack took the message) and answers only after `delay` seconds, so a test can act
while a post is in flight, or kill the sender between Slack taking the post and the mark.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from dev.slack_sink import SlackSink
from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from nurture_ops.core.catalog import get_check
from nurture_ops.core.evaluate import evaluate
from tests.builders import at

REPO = Path(__file__).resolve().parents[2]
CHECK = get_check("high_email_failure_rate")
T0 = at("2026-06-01", 12)
FIVE = timedelta(minutes=5)
REPEAT = timedelta(hours=4)
BAD = {"total": 10, "failed": 5, "failure_rate": 50.0}
# How long "does not wait for the post" may take: a few statements on a local server.
NO_WAIT = 0.5


class SlowSink(SlackSink):
    """The Slack sink, answering accepted posts `delay` seconds after recording them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.delay = 0.0
        self.answering = threading.Event()  # set once a post was recorded and its answer is held
        self._released = threading.Event()

    def release(self) -> None:
        """Answer every held post now (and all later ones at once)."""
        self._released.set()

    def handler_class(self):
        base, sink = super().handler_class(), self

        class Handler(base):
            def reply(self, status, body, content_type="text/html"):
                if status == 200 and sink.delay:
                    sink.answering.set()
                    sink._released.wait(sink.delay)
                super().reply(status, body, content_type)

        return Handler


@pytest.fixture
def sink(tmp_path, monkeypatch):
    server = SlowSink(port=0, jsonl_path=tmp_path / "slack.jsonl", quiet=True)
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", server.connection_json())
    yield server
    server.release()
    server.stop()


@pytest.fixture
def conn(leads_db):
    with psycopg.connect(leads_db, autocommit=True) as c:
        alert_state.ensure_schema(c)
        yield c


def decide(conn, when, row=BAD):
    return alert_state.record(conn, evaluate(CHECK, row), evaluated_at=when, repeat_interval=REPEAT)


def post(text: str):
    """A send callable as the notify task builds it: the Slack provider's hook, real HTTP."""
    return lambda: notify.send({"text": text}, notify.ALERTS_CONN_ID)


def deliver(conn, decision, send, *, run_id=None, text="x"):
    return alert_state.deliver(
        conn,
        decision,
        send,
        severity="critical",
        text=text,
        slack_conn_id=notify.ALERTS_CONN_ID,
        dag_id="nurture_alerts_5min",
        run_id=run_id,
    )


def alert_row(conn) -> dict:
    cur = conn.execute(
        "SELECT notified_state, notifications_sent, sending_token, sending_kind, sending_run "
        "FROM nurture_ops.alert_state WHERE alert_key = %s",
        (CHECK.key,),
    )
    return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def notifications(conn) -> list[tuple]:
    return conn.execute("SELECT kind, run_id FROM nurture_ops.alert_notifications ORDER BY id").fetchall()


def age_the_intent(conn) -> None:
    """The wall clock moves past the stale bound (the next scheduled run comes 5 minutes later)."""
    moved = conn.execute(
        "UPDATE nurture_ops.alert_state SET sending_since = sending_since - %s "
        "WHERE alert_key = %s AND sending_token IS NOT NULL",
        (alert_state.SENDING_STALE_AFTER + timedelta(seconds=1), CHECK.key),
    )
    assert moved.rowcount == 1


def in_thread(target, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["result"] = target(*args)
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


# ---- (a) a slow Slack holds no lock ----------------------------------------------------------


def test_a_slow_slack_does_not_hold_up_the_next_runs_decide(conn, leads_db, sink):
    """Slack takes 3 s to answer; meanwhile the next run decides, and leaves the post to the owner."""
    sink.delay = 3.0
    first = decide(conn, T0)
    assert first.kind == "fire"

    def owner():
        with psycopg.connect(leads_db) as own:  # not autocommit, like db.connect(); reads first
            alert_state.held_back_by(own, CHECK.key)
            return deliver(own, first, post("[CRITICAL] first"), run_id="scheduled__12:00")

    thread, out = in_thread(owner)
    assert sink.answering.wait(5), "the post did not reach the sink"
    with psycopg.connect(leads_db, autocommit=True) as other:
        started = time.monotonic()
        following = decide(other, T0 + FIVE)
        decide_took = time.monotonic() - started
        assert decide_took < NO_WAIT, f"decide waited {decide_took:.2f} s for the post"
        assert following.kind == "fire"  # not marked yet when it decided
        started = time.monotonic()
        sent_again = deliver(other, following, post("[CRITICAL] second"), run_id="scheduled__12:05")
        deliver_took = time.monotonic() - started
    thread.join(10)

    assert deliver_took < NO_WAIT, f"the overlapping deliver waited {deliver_took:.2f} s"
    assert sent_again is False  # a fresh intent: left to the owner
    assert out == {"result": True}
    assert [p["text"] for p in sink.payloads()] == ["[CRITICAL] first"]
    assert alert_row(conn) == {
        "notified_state": "firing",
        "notifications_sent": 1,
        "sending_token": None,
        "sending_kind": None,
        "sending_run": None,
    }
    assert notifications(conn) == [("fire", "scheduled__12:00")]


@pytest.mark.parametrize("how", ["deliver", "send_once", "send_unless_repeated"])
def test_no_row_lock_is_held_while_slack_is_called(conn, leads_db, sink, how):
    sink.delay = 2.0
    key, scope = {
        "deliver": (CHECK.key, ""),
        "send_once": ("daily_health_digest", "2026-05-31"),
        "send_unless_repeated": ("task_failed", "nurture_alerts_5min.measure"),
    }[how]
    decision = decide(conn, T0)

    def sender():
        with psycopg.connect(leads_db) as own:
            if how == "deliver":
                return deliver(own, decision, post("[CRITICAL] x"))
            if how == "send_once":
                return alert_state.send_once(
                    own, key, scope, post("[INFO] digest"), text="digest", slack_conn_id="s", evaluated_at=T0
                )
            return alert_state.send_unless_repeated(
                own, key, scope, "boom", post("[CRITICAL] Task failed"), at=T0, repeat=REPEAT
            )

    thread, out = in_thread(sender)
    assert sink.answering.wait(5)
    with psycopg.connect(leads_db, autocommit=True) as other:
        started = time.monotonic()
        with other.transaction():  # what the next caller does first: insert_alert_state, lock it
            other.execute(
                "INSERT INTO nurture_ops.alert_state (alert_key, scope) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, scope),
            )
            other.execute(
                "SELECT 1 FROM nurture_ops.alert_state WHERE alert_key = %s AND scope = %s FOR UPDATE",
                (key, scope),
            )
        waited = time.monotonic() - started
        assert waited < NO_WAIT, f"the row was locked for {waited:.2f} s during the post"
        pending = other.execute(
            "SELECT sending_kind FROM nurture_ops.alert_state WHERE alert_key = %s AND scope = %s",
            (key, scope),
        ).fetchone()
    thread.join(10)
    assert pending == ({"deliver": "fire", "send_once": "report", "send_unless_repeated": "message"}[how],)
    assert out == {"result": True}
    assert len(sink.payloads()) == 1
    assert conn.execute(
        "SELECT sending_token FROM nurture_ops.alert_state WHERE alert_key = %s AND scope = %s", (key, scope)
    ).fetchone() == (None,)


# ---- (b) the sender dies ---------------------------------------------------------------------

_KILLED_SENDER = """
import json, sys
import psycopg
from nurture_ops.alerting import notify, state

decision = state.Decision.from_dict(json.loads(sys.argv[2]))
with psycopg.connect(sys.argv[1]) as conn:
    state.deliver(
        conn, decision, lambda: notify.send({"text": "[CRITICAL] killed sender"}, notify.ALERTS_CONN_ID),
        severity="critical", text="x", slack_conn_id="slack_alerts",
        dag_id="nurture_alerts_5min", run_id="scheduled__12:00",
    )
print("not killed")
"""


def test_a_task_killed_after_slack_took_the_post_resends_it_once(conn, leads_db, sink):
    """SIGKILL between Slack taking the post and the mark: the intent stays; an overlapping run
    leaves it alone; the next run after the stale bound resends it once; the state ends marked."""
    sink.delay = 60.0  # the answer never comes before the kill
    first = decide(conn, T0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SENDER, leads_db, json.dumps(first.to_dict())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        sink.wait_for(1, timeout=60)  # Slack has the message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    sink.release()
    assert proc.returncode == -signal.SIGKILL

    # A run inside the stale bound (a manual run, or the sender still alive): it does not send.
    overlapping = decide(conn, T0 + timedelta(minutes=1))
    assert overlapping.kind == "fire"
    assert deliver(conn, overlapping, post("[CRITICAL] overlapping"), run_id="manual__12:01") is False
    assert len(sink.payloads()) == 1
    assert alert_row(conn)["sending_run"] == "nurture_alerts_5min/scheduled__12:00"  # the intent
    assert alert_row(conn)["notified_state"] is None

    # The next scheduled run, past the bound: takes the intent over and resends it, once.
    age_the_intent(conn)
    following = decide(conn, T0 + FIVE)
    assert deliver(conn, following, post("[CRITICAL] resent"), run_id="scheduled__12:05") is True
    assert [p["text"] for p in sink.payloads()] == ["[CRITICAL] killed sender", "[CRITICAL] resent"]
    assert alert_row(conn) == {
        "notified_state": "firing",
        "notifications_sent": 1,
        "sending_token": None,
        "sending_kind": None,
        "sending_run": None,
    }
    assert notifications(conn) == [("fire", "scheduled__12:05")]  # the killed post was never marked
    assert decide(conn, T0 + 2 * FIVE).kind is None  # consistent: notified, nothing more to send


@pytest.mark.parametrize("taker", ["retry of the same run", "next run after the stale bound"])
def test_a_task_killed_before_posting_loses_nothing(conn, sink, taker):
    first = decide(conn, T0)

    def killed():  # the task dies after the intent was committed, before anything reached Slack
        raise SystemExit("SIGTERM")

    with pytest.raises(SystemExit):
        deliver(conn, first, killed, run_id="scheduled__12:00")
    assert sink.payloads() == []

    if taker == "retry of the same run":  # Airflow runs one try at a time: the earlier try is dead
        assert deliver(conn, first, post("[CRITICAL] retry"), run_id="scheduled__12:00") is True
        expected = [("fire", "scheduled__12:00")]
    else:
        following = decide(conn, T0 + FIVE)
        assert deliver(conn, following, post("[CRITICAL] early"), run_id="scheduled__12:05") is False
        age_the_intent(conn)
        assert deliver(conn, following, post("[CRITICAL] retry"), run_id="scheduled__12:05") is True
        expected = [("fire", "scheduled__12:05")]
        assert alert_row(conn)["sending_token"] is None
    assert [p["text"] for p in sink.payloads()] == ["[CRITICAL] retry"]
    assert alert_row(conn)["notified_state"] == "firing"
    assert alert_row(conn)["sending_token"] is None
    assert notifications(conn) == expected


def test_a_refused_post_withdraws_the_intent_and_the_next_run_sends_at_once(conn, sink):
    sink.fail_next(1, 500)
    first = decide(conn, T0)
    with pytest.raises(RuntimeError, match="Slack did not accept"):
        deliver(conn, first, post("[CRITICAL] refused"), run_id="scheduled__12:00")
    assert alert_row(conn)["sending_token"] is None
    assert notifications(conn) == []
    following = decide(conn, T0 + FIVE)
    assert following.kind == "fire"
    assert deliver(conn, following, post("[CRITICAL] delivered"), run_id="scheduled__12:05") is True
    assert [p["text"] for p in sink.payloads()] == ["[CRITICAL] delivered"]


def test_a_post_slower_than_the_stale_bound_is_duplicated_and_the_state_stays_consistent(
    conn, leads_db, sink
):
    """Ruled out in practice by the Slack client's timeout: the slow sender finds its token gone,
    records its notification (Slack took it) and leaves the state to the run that took over."""
    sink.delay = 3.0
    first = decide(conn, T0)

    def owner():
        with psycopg.connect(leads_db) as own:
            return deliver(own, first, post("[CRITICAL] slow"), run_id="scheduled__12:00")

    thread, out = in_thread(owner)
    assert sink.answering.wait(5)
    sink.delay = 0.0
    age_the_intent(conn)
    following = decide(conn, T0 + FIVE)
    assert deliver(conn, following, post("[CRITICAL] took over"), run_id="scheduled__12:05") is True
    sink.release()
    thread.join(10)
    assert out == {"result": True}
    assert sorted(p["text"] for p in sink.payloads()) == ["[CRITICAL] slow", "[CRITICAL] took over"]
    assert alert_row(conn)["notifications_sent"] == 1
    assert alert_row(conn)["sending_token"] is None
    assert sorted(notifications(conn)) == [("fire", "scheduled__12:00"), ("fire", "scheduled__12:05")]


# ---- (c) overlapping deliveries --------------------------------------------------------------


def test_two_overlapping_deliveries_of_the_same_decision_send_exactly_once(conn, leads_db, sink):
    sink.delay = 1.0
    decision = decide(conn, T0)
    barrier = threading.Barrier(2)
    took: dict[str, float] = {}

    def run(run_id):
        with psycopg.connect(leads_db) as own:
            barrier.wait()
            started = time.monotonic()
            sent = deliver(own, decision, post(f"[CRITICAL] {run_id}"), run_id=run_id)
            took[run_id] = time.monotonic() - started
            return sent

    runs = {run_id: in_thread(run, run_id) for run_id in ("scheduled__12:00", "manual__12:00")}
    for thread, _ in runs.values():
        thread.join(10)
    results = {run_id: out["result"] for run_id, (_, out) in runs.items()}
    assert sorted(results.values()) == [False, True]
    assert len(sink.payloads()) == 1
    assert len(notifications(conn)) == 1
    assert alert_row(conn)["notifications_sent"] == 1 and alert_row(conn)["sending_token"] is None
    (loser,) = [run_id for run_id, sent in results.items() if not sent]
    assert took[loser] < NO_WAIT, f"the run that did not send waited {took[loser]:.2f} s"


def test_the_stale_bound_outlasts_the_slowest_post():
    """Two attempts of the Slack client (connect + read timeouts) fit inside the bound."""
    worst_post = timedelta(seconds=2 * 2 * notify.SLACK_TIMEOUT_SECONDS)
    bound = alert_state.SENDING_STALE_AFTER
    assert bound >= worst_post + timedelta(seconds=30)
    assert bound < timedelta(minutes=5)  # the next 5-minute run takes over
