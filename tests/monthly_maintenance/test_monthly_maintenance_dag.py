"""nurture_monthly_maintenance end to end (dag.test(), real PostgreSQL, the Slack sink), and its
workflow-error review and report helpers."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from nurture_ops.core.settings import parse_maintenance_settings
from nurture_ops.monthly_maintenance import tasks as monthly_tasks
from nurture_ops.monthly_maintenance.indexes import DEFAULT_TABLES, find_invalid_indexes
from nurture_ops.monthly_maintenance.report import workflows_text
from nurture_ops.monthly_maintenance.tasks import lift_instant
from nurture_ops.monthly_maintenance.workflows import review_workflow_errors
from tests.builders import Seed, rows, seed_enrollments

pytestmark = pytest.mark.e2e

DAG_ID = "nurture_monthly_maintenance"
RUN = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)  # a scheduled run: 03:00 UTC on the 1st
MONTH_START = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # the month is [MONTH_START, RUN)
PREVIOUS_START = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
SILENCED = {"overdue_enrollments", "emails_stuck_queued"}
SENDER = "Lead Nurture - Email Sender"
SCHEDULER = "Lead Nurture - Message Scheduler"
TRACKER = "Lead Nurture - Event Tracker"
LEFTOVER = "email_events_event_hash_idx_ccnew"


class SilenceWatcher(threading.Thread):
    """Reads nurture_ops.alert_silences every 20 ms while the DAG runs (dag.test() runs the tasks
    in this process, so the watcher sees the table as the alert DAGs would during the run)."""

    def __init__(self, dsn: str):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.seen: list[list[tuple]] = []

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    found = conn.execute(
                        "SELECT alert_key, starts_at, ends_at FROM nurture_ops.alert_silences ORDER BY id"
                    ).fetchall()
                except psycopg.errors.UndefinedTable:
                    found = []
                if found:
                    self.seen.append(found)
                time.sleep(0.02)

    def __enter__(self) -> SilenceWatcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join(10)


def add_executions(db, workflow: str, durations: list[int | None], *, at: datetime, status="success"):
    for duration in durations:
        Seed(db).execution(workflow, status=status, duration_ms=duration, at=at)


def add_errors(db, workflow: str, times: list[datetime]) -> None:
    for i, created in enumerate(times):
        Seed(db).workflow_error(workflow, node_name="Send email", message=f"error {i}", at=created)


def seed_workflows(db) -> None:
    """Email Sender 3 errors (1 the month before): up. Scheduler 0 (2 before): down.
    Event Tracker 2 (none before): new. Rows at the windows' edges test the half-open bounds."""
    add_errors(db, SENDER, [MONTH_START, RUN - timedelta(days=3), RUN - timedelta(seconds=1)])
    add_errors(db, SENDER, [MONTH_START - timedelta(seconds=1), RUN])  # month before; next month
    add_errors(db, SCHEDULER, [PREVIOUS_START, PREVIOUS_START + timedelta(days=10)])
    add_errors(db, SCHEDULER, [PREVIOUS_START - timedelta(seconds=1)])  # two months before: out
    add_errors(db, TRACKER, [RUN - timedelta(days=20), RUN - timedelta(days=1)])
    add_executions(db, SENDER, [1000, 3000], at=RUN - timedelta(days=5))
    add_executions(db, SENDER, [8000], at=MONTH_START, status="error")
    add_executions(db, SENDER, [99_999], at=RUN)  # next month
    add_executions(db, SCHEDULER, [200, 400, None], at=RUN - timedelta(days=2))


def make_invalid_leftover(db) -> None:
    """What a failed REINDEX CONCURRENTLY leaves: an INVALID index named *_ccnew."""
    send_id = db.execute("SELECT MIN(id) FROM email_sends").fetchone()[0]
    seed = Seed(db, now=RUN)
    seed.event(send_id, "open", event_hash="dup")
    seed.event(send_id, "open", event_hash="dup")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {LEFTOVER} ON email_events (event_hash)")
    assert [i["index_name"] for i in find_invalid_indexes(db)] == [LEFTOVER]


def enrollment_totals(db) -> tuple[int, int]:
    live = db.execute("SELECT COUNT(*) FROM lead_campaign_enrollments").fetchone()[0]
    archived = len(rows(db, "lead_campaign_enrollments_archive"))
    return live, archived


def silences(db) -> list[tuple]:
    return db.execute(
        "SELECT alert_key, starts_at, ends_at, reason, created_by FROM nurture_ops.alert_silences ORDER BY id"
    ).fetchall()


def dag_run_id(dag_id: str) -> str:
    """The run id of the DAG's latest run in the Airflow metadata DB (this test's: others may have
    left runs of the same DAG behind)."""
    from airflow.models import DagRun

    return max(DagRun.find(dag_id=dag_id), key=lambda run: run.id).run_id


def infos(sink) -> list[dict]:
    return [p for p in sink.payloads() if p["text"].startswith("[INFO] Monthly maintenance")]


def body(payload: dict) -> str:
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")


@pytest.fixture
def world(db):
    seeded = seed_enrollments(db, completed_old=17)
    # A few sends and events so every table has rows (and a leftover can be made on email_events).
    seed = Seed(db, now=RUN)
    for i in range(3):
        send = seed.send(
            seeded.lead_ids[i], seeded.campaign_id, status="queued", created_at=RUN - timedelta(days=i)
        )
        seed.event(send, "delivered")
    seed_workflows(db)
    make_invalid_leftover(db)
    return seeded


def test_monthly_maintenance_end_to_end(run_dag, world, db, leads_db, slack_sink, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"drop_invalid_indexes": True}))
    live_before, archived_before = enrollment_totals(db)
    before = rows(db, "lead_campaign_enrollments")

    with SilenceWatcher(leads_db) as watcher:
        states = run_dag(DAG_ID, RUN)

    assert states["__run__"] == "success", states
    assert {k: v for k, v in states.items() if v != "success"} == {}

    # Silences: both alerts silenced from the run's time for 6 hours while the work ran ...
    planned = {(key, RUN, RUN + timedelta(hours=6)) for key in SILENCED}
    assert any({tuple(r) for r in seen} == planned for seen in watcher.seen), watcher.seen[:3]
    # ... and lifted at the end: they cover the run's start, not the hours after it.
    after = silences(db)
    assert {r[0] for r in after} == SILENCED and len(after) == 2
    run_id = dag_run_id(DAG_ID)
    for key, starts_at, ends_at, reason, created_by in after:
        assert starts_at == RUN
        assert RUN < ends_at < RUN + timedelta(minutes=5), (key, ends_at)
        assert reason == f"monthly maintenance {run_id}"
        assert created_by == DAG_ID

    # Index maintenance: the leftover was dropped; nothing INVALID remains.
    assert find_invalid_indexes(db) == []

    # Cleanup: exactly the 17 enrollments completed > 90 days before the run moved, nothing else.
    live_after, archived_after = enrollment_totals(db)
    assert (live_before, archived_before) == (len(before), 0)
    assert archived_after == 17 and live_after + archived_after == live_before
    archived = rows(db, "lead_campaign_enrollments_archive")
    assert sorted(archived) == sorted(world.completed_old_ids)
    assert all(archived[i] == before[i] for i in archived)  # same columns, same values
    assert set(rows(db, "lead_campaign_enrollments")) == set(world.other_enrollment_ids)

    # One summary, with each part's figures.
    (summary,) = infos(slack_sink)
    assert summary["text"] == (
        "[INFO] Monthly maintenance: ATTENTION: workflow errors rising: "
        f"{SENDER}, {TRACKER}; 3 tables reindexed; no invalid index (1 dropped); "
        "17 completed enrollments archived (reconciled)"
    )
    text = body(summary)
    for table in DEFAULT_TABLES:
        assert f":white_check_mark: `{table}`:" in text
    assert "rebuilt in" in text and "analyzed in" in text
    assert f"`public.{LEFTOVER}` on `email_events`" in text and "dropped (DROP INDEX CONCURRENTLY)" in text
    assert "17 enrollments completed before 2026-04-02 03:00 UTC archived" in text
    assert "Reconciled: live 17 → 0, archived 0 → 17" in text
    assert "5 workflow errors (month before: 3, up)" in text
    assert (
        f"{SENDER}: 3 errors (before 1, up); 3 executions (1 not successful), mean 4,000 ms, max 8,000 ms"
        in text
    )
    assert f"{TRACKER}: 2 errors (before 0, new)" in text
    assert f"{SCHEDULER}: 0 errors (before 2, down); 3 executions, mean 300 ms, max 400 ms" in text
    assert "silenced from 2026-07-01 03:00 UTC, lifted at 2026-07-01 03:0" in text
    assert (
        "Review and update documentation" in text and "Rotate API keys (if security policy requires)" in text
    )
    assert not [p for p in slack_sink.payloads() if "Task failed" in p["text"]]


def test_silences_are_lifted_when_a_task_fails(run_dag, world, db, slack_sink, monkeypatch):
    """A bad Variable value fails the cleanup: nothing is moved, the rest still runs, the run
    fails, the silences end anyway, and the summary says what was not done."""
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"cleanup_mode": "shred"}))
    before = rows(db, "lead_campaign_enrollments")

    states = run_dag(DAG_ID, RUN)

    assert states["cleanup_completed_enrollments"] == "failed"
    assert states["__run__"] == "failed"
    assert states["lift_silences"] == "success"
    assert states["monthly_summary"] == "success"
    for task_id in ("silence_alerts", "reindex_tables", "invalid_indexes", "analyze_tables"):
        assert states[task_id] == "success", task_id
    after = silences(db)
    assert {r[0] for r in after} == SILENCED
    assert all(RUN < ends_at < RUN + timedelta(minutes=5) for _, _, ends_at, _, _ in after)
    assert rows(db, "lead_campaign_enrollments") == before
    assert rows(db, "lead_campaign_enrollments_archive") == {}

    failures = [p["text"] for p in slack_sink.payloads() if "Task failed" in p["text"]]
    assert len(failures) == 1
    assert failures[0].startswith(f"[CRITICAL] Task failed: {DAG_ID}.cleanup_completed_enrollments")
    assert "nurture_ops_maintenance: cleanup_mode must be one of 'archive', 'delete'" in failures[0]

    # The leftover is reported, not dropped (drop_invalid_indexes is off by default).
    assert [i["index_name"] for i in find_invalid_indexes(db)] == [LEFTOVER]
    (summary,) = infos(slack_sink)
    assert summary["text"].startswith(
        "[INFO] Monthly maintenance: ATTENTION: 1 INVALID index left, cleanup of completed enrollments FAILED"
    )
    text = body(summary)
    assert f"`public.{LEFTOVER}` on `email_events`" in text and ": kept" in text
    assert '`{"drop_invalid_indexes": true}`' in text
    assert "`cleanup_completed_enrollments` failed, or did not run" in text


def test_a_table_not_rebuilt_fails_the_run_and_the_summary_says_so(
    run_dag, world, db, leads_db, slack_sink, monkeypatch
):
    """A long transaction holds an old snapshot: REINDEX CONCURRENTLY times out on every table.
    The reindex task fails after trying them all (the index steps after it do not run), the
    cleanup is unaffected, the run fails, and the silences are lifted."""
    monkeypatch.setattr(monthly_tasks, "ATTEMPTS", 1)
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"lock_timeout_ms": 200}))
    blocker = psycopg.connect(leads_db)
    blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    blocker.execute("SELECT COUNT(*) FROM organizations").fetchone()
    try:
        states = run_dag(DAG_ID, RUN)
    finally:
        blocker.close()

    assert states["reindex_tables"] == "failed"
    assert states["__run__"] == "failed"
    assert states["invalid_indexes"] == states["analyze_tables"] == "upstream_failed"
    for task_id in (
        "cleanup_completed_enrollments",
        "review_slow_workflows",
        "lift_silences",
        "monthly_summary",
    ):
        assert states[task_id] == "success", task_id
    assert all(RUN < row[2] < RUN + timedelta(minutes=5) for row in silences(db))
    assert len(rows(db, "lead_campaign_enrollments_archive")) == 17
    # Nothing half-built left: only the leftover made before the run is INVALID.
    assert [i["index_name"] for i in find_invalid_indexes(db)] == [LEFTOVER]

    (failure,) = [p["text"] for p in slack_sink.payloads() if "Task failed" in p["text"]]
    assert failure.startswith(
        f"[CRITICAL] Task failed: {DAG_ID}.reindex_tables: RuntimeError: reindex failed:"
    )
    (summary,) = infos(slack_sink)
    assert summary["text"].startswith(
        "[INFO] Monthly maintenance: ATTENTION: reindex FAILED for lead_campaign_enrollments, email_sends, "
        "email_events, ANALYZE incomplete, invalid indexes not checked"
    )
    text = body(summary)
    assert ":x: `email_sends`: NOT rebuilt after 1 attempt: LockNotAvailable" in text
    assert "; ANALYZE did not run" in text
    assert "INVALID copies left by a failed attempt dropped" in text
    assert "`invalid_indexes` failed, or did not run because a step before it failed" in text
    assert "clear `reindex_tables` when the system is quieter" in text
    assert "17 enrollments completed before 2026-04-02 03:00 UTC archived" in text


# --- the workflow review and the helpers, without a DAG run ----------------------------------


def test_review_workflow_errors_counts_half_open_months(db):
    seed_workflows(db)
    with psycopg.connect(db.info.dsn) as conn:
        result = review_workflow_errors(conn, at=RUN)
    assert (result["month_start"], result["previous_start"]) == (
        MONTH_START.isoformat(),
        PREVIOUS_START.isoformat(),
    )
    assert (result["error_count"], result["previous_error_count"], result["trend"]) == (5, 3, "up")
    assert result["rising"] == [SENDER, TRACKER]
    by_name = {w["workflow_name"]: w for w in result["workflows"]}
    assert [w["workflow_name"] for w in result["workflows"]] == [SENDER, TRACKER, SCHEDULER]
    sender = by_name[SENDER]
    assert {k: sender[k] for k in ("error_count", "previous_error_count", "trend")} == {
        "error_count": 3,
        "previous_error_count": 1,
        "trend": "up",
    }
    assert sender["last_error"] == (RUN - timedelta(seconds=1)).isoformat()
    assert sender["last_error_message"] == "error 2"
    assert (sender["executions"], sender["failed_executions"]) == (3, 1)
    assert (sender["mean_duration_ms"], sender["max_duration_ms"]) == (4000, 8000)
    scheduler = by_name[SCHEDULER]
    assert (scheduler["error_count"], scheduler["previous_error_count"], scheduler["trend"]) == (0, 2, "down")
    assert (scheduler["executions"], scheduler["mean_duration_ms"], scheduler["max_duration_ms"]) == (
        3,
        300,
        400,
    )
    assert scheduler["last_error"] is None
    tracker = by_name[TRACKER]
    assert (tracker["trend"], tracker["executions"], tracker["mean_duration_ms"]) == ("new", 0, None)
    json.dumps(result)  # a plain XCom


def test_review_with_no_workflow_data(db):
    with psycopg.connect(db.info.dsn) as conn:
        result = review_workflow_errors(conn, at=RUN)
    assert (result["workflows"], result["error_count"], result["trend"]) == ([], 0, "none")
    assert "No workflow errors and no executions recorded" in workflows_text(result)


def test_lift_instant_covers_the_maintenance_and_never_extends_the_silence():
    silence = {
        "starts_at": RUN.isoformat(),
        "ends_at": (RUN + timedelta(hours=6)).isoformat(),
        "set_at": "2026-11-20T10:00:00+00:00",  # a rerun of a past month, months later
    }
    assert lift_instant(silence, now=datetime(2026, 11, 20, 10, 42, tzinfo=UTC)) == RUN + timedelta(
        minutes=42
    )
    assert lift_instant(silence, now=datetime(2026, 11, 20, 19, 0, tzinfo=UTC)) == RUN + timedelta(hours=6)
    assert lift_instant(silence, now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC)) == RUN


@pytest.mark.parametrize(
    ("raw", "key", "expected"),
    [
        (None, "cleanup_mode", "archive"),
        ("", "drop_invalid_indexes", False),
        ('{"cleanup_mode": "delete"}', "cleanup_mode", "delete"),
        ('{"drop_invalid_indexes": true, "typo": 1}', "drop_invalid_indexes", True),
        ('{"cleanup_batch_size": 250}', "cleanup_batch_size", 250),
        ('{"lock_timeout_ms": null}', "lock_timeout_ms", 5000),
    ],
)
def test_settings(raw, key, expected):
    assert getattr(parse_maintenance_settings(raw), key) == expected


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ("{not json", "cleanup_mode", "is not valid JSON"),
        ("[1]", "cleanup_mode", "must be a JSON object"),
        ('{"drop_invalid_indexes": "yes"}', "drop_invalid_indexes", "must be true or false, got 'yes'"),
        ('{"cleanup_batch_size": 0}', "cleanup_batch_size", "from 1 to 100,000, got 0"),
        ('{"lock_timeout_ms": true}', "lock_timeout_ms", "from 100 to 600000, got True"),
    ],
)
def test_bad_settings_name_the_key(raw, key, message):
    with pytest.raises(ValueError, match=message):
        parse_maintenance_settings(raw, uses=[key])
