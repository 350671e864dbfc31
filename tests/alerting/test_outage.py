"""Database Connection Lost: its state in the Airflow Variable, robust and overlap-safe.

The decision is pure (state.parse_outage, state.plan_outage: milliseconds, no Airflow); the
protocol (state.page_outage: intent before the post, compare-and-set after) runs against the
real Airflow metadata DB (the `variable` table the API server writes for Variable.set) and the
real HTTP Slack sink; and the whole 5-minute DAG runs with dag.test() on a malformed Variable.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from nurture_ops.alerting import notify
from nurture_ops.alerting import state as alert_state
from tests.builders import at

T0 = at("2026-06-01", 12)
FIVE = timedelta(minutes=5)
REPEAT = timedelta(hours=4)
NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
DOWN = {"ok": False, "error_class": "refused", "error": "connection refused"}
SETTLE = timedelta(seconds=0.5)


def plan(state, *, reachable=False, when=T0, now=NOW, **kwargs):
    return alert_state.plan_outage(
        state, reachable=reachable, at=when, now=now, probe=DOWN, repeat=REPEAT, **kwargs
    )


def notified(when=T0, **extra) -> dict:
    return {
        "first_failed_at": when.isoformat(),
        "notified": True,
        "last_notified_at": when.isoformat(),
        **extra,
    }


def pending(kind="fire", *, run_id="scheduled__12:00", try_number=1, since=NOW, when=T0) -> dict:
    return {
        "token": "t-other",
        "kind": kind,
        "at": when.isoformat(),
        "run_id": run_id,
        "try_number": try_number,
        "since": since.isoformat(),
    }


# ---- pure: reading the Variable ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '"a string"',
        "42",
        "null",
        '{"notified": "yes"}',
        '{"notified": true}',  # notified, but when?
        '{"notified": true, "last_notified_at": "yesterday"}',
        '{"first_failed_at": "2026-06-01T12:00:00"}',  # no time zone
        '{"pending": {"token": "t", "kind": "page"}}',
        '{"pending": "soon"}',
    ],
)
def test_an_unreadable_variable_is_unknown_state_not_an_error(raw):
    assert alert_state.parse_outage(raw) is None


@pytest.mark.parametrize("raw", [None, "", "  ", "{}"])
def test_no_variable_is_no_outage(raw):
    assert alert_state.parse_outage(raw) == {}


def test_a_state_written_before_intents_existed_reads_as_it_was():
    old = {**notified(), "ok": False, "error_class": "refused", "error": "x"}
    assert alert_state.parse_outage(json.dumps(old)) == old


# ---- pure: the decision ------------------------------------------------------------------------


def test_unknown_state_while_down_pages_and_writes_a_well_formed_state():
    step = plan(None)
    assert step.kind == "fire"
    assert alert_state.parse_outage(json.dumps(step.state)) is not None
    assert step.state["first_failed_at"] == T0.isoformat()
    assert step.state["pending"]["kind"] == "fire"


def test_unknown_state_once_back_is_reset_without_a_message():
    step = plan(None, reachable=True)
    assert (step.kind, step.state) == (None, {})


def test_down_fires_once_then_keeps_the_repeat_interval_then_reminds():
    assert plan({}).kind == "fire"
    assert plan(notified(), when=T0).kind is None  # a retry of the run that paged
    assert plan(notified(), when=T0 + FIVE).kind is None
    assert plan(notified(), when=T0 + timedelta(seconds=37)).kind is None  # a manual run after it
    assert plan(notified(), when=T0 - timedelta(minutes=1)).kind is None  # a run dated before it
    remind = plan(notified(), when=T0 + REPEAT)
    assert remind.kind == "remind" and remind.state["first_failed_at"] == T0.isoformat()


def test_back_after_a_notified_outage_resolves_and_a_silent_one_is_cleared():
    assert plan(notified(), reachable=True).kind == "resolve"
    assert plan({"first_failed_at": T0.isoformat(), "notified": False}, reachable=True).state == {}
    assert plan({}, reachable=True) == alert_state.OutagePlan(None, "no outage")


def test_a_fresh_intent_of_another_run_is_left_to_it():
    step = plan({"pending": pending(run_id="scheduled__12:00")}, run_id="manual__12:00", try_number=1)
    assert step.kind is None and step.reason.startswith("left to run scheduled__12:00")
    assert step.state is None


def test_a_stale_intent_or_one_of_an_earlier_try_is_taken_over():
    old = NOW - alert_state.OUTAGE_STALE_AFTER - timedelta(seconds=1)
    assert plan({"pending": pending(since=old)}, run_id="scheduled__12:05", try_number=1).kind == "fire"
    earlier_try = {"pending": pending(run_id="scheduled__12:00", try_number=1)}
    assert plan(earlier_try, run_id="scheduled__12:00", try_number=2).kind == "fire"
    assert plan(earlier_try, run_id="scheduled__12:00").kind == "fire"  # the probe: let the task decide
    # A page that may have reached Slack before its sender died is resolved once the database is back.
    assert plan({"pending": pending(since=old)}, reachable=True).kind == "resolve"


def test_after_the_post_the_outage_is_notified_and_after_the_resolve_it_is_gone():
    fire = plan({}, run_id="r", try_number=1)
    after = alert_state.outage_after_post(fire.state)
    assert after["notified"] is True and after["last_notified_at"] == T0.isoformat()
    assert after["pending"] is None
    assert alert_state.parse_outage(json.dumps(after)) == after
    resolve = plan(after, reachable=True, when=T0 + FIVE)
    assert alert_state.outage_after_post(resolve.state) is None


# ---- the protocol against the real Variable store ---------------------------------------------


class MetadataStore:
    """The Variable in the Airflow metadata DB: the row Variable.set writes through the API."""

    key = alert_state.OUTAGE_VARIABLE

    def __init__(self):
        self.failing_set = 0  # n > 0: the n-th set() from now raises (the API server unreachable)

    def get(self):
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Variable).where(Variable.key == self.key))
            return None if row is None else row.val

    def set(self, value):
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        if self.failing_set:
            self.failing_set -= 1
            if not self.failing_set:
                raise ConnectionError("API server unreachable")
        with create_session() as session:
            session.execute(delete(Variable).where(Variable.key == self.key))
            session.add(Variable(key=self.key, val=value))

    def delete(self):
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        with create_session() as session:
            session.execute(delete(Variable).where(Variable.key == self.key))


@pytest.fixture
def store(airflow_db):
    variable = MetadataStore()
    variable.delete()
    yield variable
    variable.delete()


def page(store, send, *, when=T0, run_id="scheduled__12:00", try_number=1, reachable=False):
    return alert_state.page_outage(
        send,
        reachable=reachable,
        probe={"ok": True} if reachable else DOWN,
        at=when,
        repeat=REPEAT,
        run_id=run_id,
        try_number=try_number,
        store=store,
        settle=SETTLE,
    )


def slack(kind, outage):
    notify.send({"text": f"[{kind}] Database Connection Lost since {outage['first_failed_at']}"})


def texts(sink):
    return [p["text"] for p in sink.payloads()]


def test_two_runs_at_the_same_time_page_once(store, slack_sink):
    """The scheduled run and a manual run, both finding no outage recorded: one page, three times over."""
    for round_ in range(3):
        store.delete()
        slack_sink.clear()
        barrier, outcomes = threading.Barrier(2), {}

        def run(run_id, when, barrier=barrier, outcomes=outcomes):
            barrier.wait()
            outcomes[run_id] = page(store, slack, when=when, run_id=run_id)

        threads = [
            threading.Thread(target=run, args=("scheduled__12:00", T0)),
            threading.Thread(target=run, args=("manual__12:00:37", T0 + timedelta(seconds=37))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        first, second = sorted(outcomes.values())
        assert first == "fire" and second.startswith("left to run"), (round_, outcomes)
        assert len(slack_sink.payloads()) == 1, (round_, outcomes)
        state = alert_state.parse_outage(store.get())
        assert state["notified"] is True and state["pending"] is None


def test_a_later_overlapping_run_keeps_the_repeat_interval(store, slack_sink):
    assert page(store, slack) == "fire"
    assert page(store, slack, when=T0 + timedelta(seconds=37), run_id="manual__12:00:37").startswith(
        "already notified"
    )
    assert page(store, slack, when=T0 + FIVE, run_id="scheduled__12:05").startswith("already notified")
    assert len(slack_sink.payloads()) == 1


def test_a_retry_after_a_failed_post_pages_once(store, slack_sink):
    slack_sink.fail_next(1, 500)
    with pytest.raises(RuntimeError, match="Slack did not accept"):
        page(store, slack, try_number=1)
    state = alert_state.parse_outage(store.get())
    assert state["pending"] is None and state["notified"] is False  # the intent was withdrawn
    assert page(store, slack, try_number=2) == "fire"
    assert page(store, slack, try_number=3) == "already sent by this run"
    assert len(slack_sink.payloads()) == 1


def test_the_intent_is_written_before_the_post(store, slack_sink):
    """A Variable that cannot be written stops the page before it reaches Slack (the retry
    pages); a write that fails after Slack took the page is a crash between post and mark."""
    store.failing_set = 1  # the intent
    with pytest.raises(ConnectionError):
        page(store, slack, try_number=1)
    assert slack_sink.payloads() == []
    assert page(store, slack, try_number=2) == "fire"
    assert len(slack_sink.payloads()) == 1

    store.failing_set = 2  # the mark, after the reminder reached Slack
    with pytest.raises(ConnectionError):
        page(store, slack, when=T0 + REPEAT, run_id="scheduled__16:00", try_number=1)
    assert len(slack_sink.payloads()) == 2
    assert page(store, slack, when=T0 + REPEAT, run_id="scheduled__16:00", try_number=2) == "remind"
    assert len(slack_sink.payloads()) == 3  # at least once: the one duplicate
    state = alert_state.parse_outage(store.get())
    assert state["notified"] is True and state["pending"] is None
    assert state["last_notified_at"] == (T0 + REPEAT).isoformat()


def test_a_crash_before_the_post_is_not_silent(store, slack_sink):
    def killed(kind, outage):  # the task dies after writing its intent, before reaching Slack
        raise SystemExit("SIGTERM")

    with pytest.raises(SystemExit):
        page(store, killed, try_number=1)
    assert alert_state.parse_outage(store.get())["pending"]["run_id"] == "scheduled__12:00"
    # A manual run meanwhile leaves it to the owner (which it cannot know is dead) ...
    assert page(store, slack, when=T0 + timedelta(seconds=20), run_id="manual").startswith("left to run")
    assert slack_sink.payloads() == []
    # ... the retry of the same run (20 s later) takes it over at once.
    assert page(store, slack, try_number=2) == "fire"
    assert len(slack_sink.payloads()) == 1
    state = alert_state.parse_outage(store.get())
    assert state["notified"] is True and state["pending"] is None


def test_a_crash_between_post_and_mark_pages_again_once(store, slack_sink):
    def posted_then_killed(kind, outage):
        slack(kind, outage)
        raise SystemExit("SIGTERM")

    with pytest.raises(SystemExit):
        page(store, posted_then_killed, try_number=1)
    assert page(store, slack, try_number=2) == "fire"  # at least once: the duplicate
    assert page(store, slack, try_number=3) == "already sent by this run"
    assert page(store, slack, when=T0 + FIVE, run_id="scheduled__12:05") != "fire"
    assert len(slack_sink.payloads()) == 2


def test_a_malformed_variable_pages_and_is_overwritten(store, slack_sink, caplog):
    store.set("{not json")
    with caplog.at_level("WARNING", logger="nurture_ops.alerting.state"):
        assert page(store, slack) == "fire"
    assert "not a well-formed outage state" in caplog.text
    state = alert_state.parse_outage(store.get())
    assert state["notified"] is True and state["last_notified_at"] == T0.isoformat()
    assert page(store, slack, when=T0 + FIVE, run_id="scheduled__12:05").startswith("already notified")
    assert page(store, slack, when=T0 + 2 * FIVE, run_id="scheduled__12:10", reachable=True) == "resolve"
    assert store.get() is None
    assert len(slack_sink.payloads()) == 2


# ---- the 5-minute DAG (dag.test) -------------------------------------------------------------


@pytest.fixture
def database_down(monkeypatch, leads_db):
    from tests.conftest import leads_db_connection_json

    good = leads_db_connection_json(leads_db.rsplit("/", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json("x", port=1))  # nothing listens on 1
    return lambda: monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", good)


def test_a_malformed_variable_in_the_metastore_pages_once_and_is_rewritten(
    run_dag, store, slack_sink, database_down
):
    store.set('["not", "an", "object"]')
    states = run_dag("nurture_alerts_5min", T0)
    assert states["probe_database"] == "success"
    assert states["database_connection_lost"] == "success"
    assert states["__run__"] == "success"
    assert [t.split(":")[0] for t in texts(slack_sink)] == ["[CRITICAL] Database Connection Lost"]
    state = alert_state.parse_outage(store.get())
    assert state["notified"] is True and state["pending"] is None and state["error_class"] == "refused"

    run_dag("nurture_alerts_5min", T0 + FIVE)  # dedup works again on the rewritten state
    assert len(slack_sink.payloads()) == 1

    database_down()  # back up
    states = run_dag("nurture_alerts_5min", T0 + 2 * FIVE)
    assert states["database_connection_lost"] == "success"
    assert texts(slack_sink)[1].startswith("[RESOLVED] Database Connection Lost")
    assert store.get() is None


def test_a_malformed_variable_from_an_env_var_still_pages(
    run_dag, store, slack_sink, database_down, monkeypatch
):
    """An env-var Variable wins over the metastore and cannot be written: the probe survives it,
    the alert pages (without deduplication, an error is logged) and writes a well-formed state to
    the metastore for when the env var goes."""
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_DATABASE_OUTAGE", "{not json")
    states = run_dag("nurture_alerts_5min", T0)
    assert states["probe_database"] == "success"
    assert states["database_connection_lost"] == "success"
    assert [t.split(":")[0] for t in texts(slack_sink)] == ["[CRITICAL] Database Connection Lost"]
    written = alert_state.parse_outage(store.get())
    assert written is not None and written["first_failed_at"] == T0.isoformat()


def test_a_malformed_variable_once_back_is_reset_without_a_message(run_dag, store, slack_sink):
    store.set("{not json")
    states = run_dag("nurture_alerts_5min", T0)
    assert states["__run__"] == "success"
    assert states["database_connection_lost"] == "success"
    assert states["high_email_failure_rate.decide"] == "success"  # the checks ran
    assert slack_sink.payloads() == []
    assert store.get() is None
