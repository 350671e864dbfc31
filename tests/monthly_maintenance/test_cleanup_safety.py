"""The monthly cleanup of completed enrollments with customer data at stake (issue 9), against the
real PostgreSQL:

- point 1: "more than 90 days" is measured from the earlier of the run's date and the real clock:
  a run dated in the future archives or deletes nothing (function, and the monthly DAG's task);
- point 4: dry_run is True or False, nothing else, and the task runs in dry-run mode when the
  run's params say dry_run: true;
- point 11: each batch is bounded by a lock timeout (retried, then reported), and the run lock
  refuses a connection on port 6543 (a transaction-mode pooler).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dev import pg
from nurture_ops.core.archiving import ArchiveLockTimeoutError, ArchiveSessionError, BatchLimits
from nurture_ops.monthly_maintenance.cleanup import (
    cleanup_completed_enrollments,
    completed_enrollments_cutoff,
)
from tests.builders import NOW, Seed, rows
from tests.conftest import forgetting_runs, without_param
from tests.tcp_forward import TcpForwarder

DAG_ID = "nurture_monthly_maintenance"
TASK_ID = "cleanup_completed_enrollments"
ENROLLMENT_CUTOFF = NOW - timedelta(days=90)
FUTURE = datetime(2100, 1, 1, 3, 0, tzinfo=UTC)  # `airflow dags test nurture_monthly_maintenance 2100-01-01`
# A monthly run of its own (other tests use 2026-07-01): 17 enrollments completed > 90 days before it.
RUN = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
FAST = BatchLimits(lock_timeout_ms=200, retry_delay_s=0.05)
TABLES = ("lead_campaign_enrollments", "lead_campaign_enrollments_archive")


def quiet(line: str) -> None:
    pass


@pytest.fixture
def forget_runs(airflow_db):
    """The DagRuns of DAG_ID this test creates are deleted afterwards (conftest.forgetting_runs)."""
    with forgetting_runs(DAG_ID):
        yield


def snapshot(db) -> dict:
    return {table: rows(db, table) for table in TABLES}


def completed_yesterday(db, seeded) -> int:
    """An enrollment completed yesterday by the real clock: never to be cleaned up."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    return Seed(db, now=NOW).enrollment(
        seeded.lead_ids[0],
        seeded.campaign_id,
        status="completed",
        completion_reason="finished",
        created_at=yesterday - timedelta(days=30),
        completed_at=yesterday,
    )


def run_cleanup(conn, *, run_id: str, mode: str = "archive", log=quiet, **kwargs) -> dict:
    kwargs.setdefault("limits", FAST)
    return cleanup_completed_enrollments(
        conn,
        older_than=ENROLLMENT_CUTOFF,
        batch_size=4,
        run_id=run_id,
        archived_at=NOW,
        mode=mode,
        log=log,
        **kwargs,
    )


def failures(sink) -> list[str]:
    """The failure posts: their 300-character text, then the whole error of the message's block."""
    return [
        p["text"] + "\n" + "\n".join(b["text"]["text"] for b in p["blocks"] if b["type"] == "section")
        for p in sink.payloads()
        if "Task failed" in p["text"] and TASK_ID in p["text"]
    ]


def cleanup_result(logical_date: datetime) -> dict:
    """The cleanup task's XCom of the monthly run at `logical_date`."""
    from airflow.models import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    (run,) = [r for r in DagRun.find(dag_id=DAG_ID) if r.logical_date == logical_date]
    query = XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids=TASK_ID, key="return_value")
    with create_session() as session:
        return XComModel.deserialize_value(session.scalars(query).first())


# --------------------------------------------------------------------------- point 1: the clock


@pytest.mark.parametrize("mode", ["delete", "archive"])
def test_cleanup_refuses_a_run_dated_in_the_future(db, seeded_enrollments, mode):
    """Run time 2100-01-01 and the bound 90 days before it: by the run's date alone every
    completed enrollment, yesterday's included, would be "older than 90 days" (and with mode
    "delete", gone with no copy). Refused, dry run or not; nothing deleted or moved."""
    recent = completed_yesterday(db, seeded_enrollments)
    before = snapshot(db)
    today = datetime.now(UTC).date().isoformat()
    for dry_run in (False, True):
        with pytest.raises(ValueError) as info:
            cleanup_completed_enrollments(
                db,
                older_than=FUTURE - timedelta(days=90),
                run_id="future",
                archived_at=FUTURE,
                mode=mode,
                dry_run=dry_run,
                log=quiet,
            )
        message = str(info.value)
        assert "less than 90 days before today" in message
        assert "2100-01-01" in message and today in message  # the run's date and today's
    with pytest.raises(ValueError, match="the run's date is 2100-01-01 03:00 UTC"):
        completed_enrollments_cutoff(FUTURE)
    assert snapshot(db) == before and recent in rows(db, "lead_campaign_enrollments")
    assert db.execute("SELECT TO_REGCLASS('lead_campaign_enrollments_archive')").fetchone()[0] is None


def test_cleanup_dated_today_still_cleans_up_what_is_old(db, seeded_enrollments):
    """The clock guard does not refuse a normal run: dated now, it archives what was completed
    more than 90 days ago and keeps yesterday's."""
    recent = completed_yesterday(db, seeded_enrollments)
    now = datetime.now(UTC)
    older_than = completed_enrollments_cutoff(now)
    eligible = [
        r[0]
        for r in db.execute(
            "SELECT id FROM lead_campaign_enrollments WHERE status = 'completed' AND completed_at < %s",
            (older_than,),
        )
    ]
    assert set(seeded_enrollments.completed_old_ids) <= set(eligible)
    result = cleanup_completed_enrollments(
        db, older_than=older_than, run_id="today", archived_at=now, limits=FAST, log=quiet
    )
    assert result["reconciled"] is True
    assert sorted(rows(db, "lead_campaign_enrollments_archive")) == sorted(eligible)
    assert recent in rows(db, "lead_campaign_enrollments")


@pytest.mark.e2e
def test_monthly_run_dated_in_the_future_deletes_nothing(
    run_dag, forget_runs, db, seeded_enrollments, slack_sink, monkeypatch
):
    """The monthly DAG under dag.test() dated 2100-01-01, with cleanup_mode "delete": the cleanup
    task fails (not retried) naming both dates; no enrollment is deleted."""
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"cleanup_mode": "delete"}))
    recent = completed_yesterday(db, seeded_enrollments)
    before = snapshot(db)
    states = run_dag(DAG_ID, FUTURE)
    assert states[TASK_ID] == "failed", states
    assert snapshot(db) == before and recent in rows(db, "lead_campaign_enrollments")
    (failure,) = failures(slack_sink)
    first_line = failure.splitlines()[0]
    assert first_line.startswith(f"[CRITICAL] Task failed: {DAG_ID}.{TASK_ID}: older_than 2099-10-03")
    assert "2100-01-01" in first_line and datetime.now(UTC).date().isoformat() in first_line
    assert "(bad input: not retried; nothing was changed)" in failure


# --------------------------------------------------------------------------- point 4: dry_run


@pytest.mark.parametrize("value", [0, "", None, 1, "false"])
def test_cleanup_dry_run_must_be_a_boolean(db, seeded_enrollments, value):
    """0, "" and None used to mean a real run (with mode "delete": deleted), 1 and "false" a dry run."""
    before = snapshot(db)
    with pytest.raises(ValueError, match="dry_run must be true or false, got"):
        run_cleanup(db, run_id="r", mode="delete", dry_run=value)
    assert snapshot(db) == before


@pytest.mark.e2e
def test_monthly_cleanup_in_dry_run_counts_and_changes_nothing(
    run_dag, forget_runs, db, seeded_enrollments, slack_sink, monkeypatch
):
    """run_conf {"dry_run": true}: the cleanup task counts the 17 enrollments it would delete and
    changes nothing."""
    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"cleanup_mode": "delete"}))
    before = snapshot(db)
    states = run_dag(DAG_ID, RUN, run_conf={"dry_run": True})
    assert states[TASK_ID] == "success", states
    assert snapshot(db) == before
    result = cleanup_result(RUN)
    assert result["dry_run"] is True and result["mode"] == "delete"
    assert result["enrollments"]["would_move"] == len(seeded_enrollments.completed_old_ids) == 17
    assert result["enrollments"]["moved"] == 0
    assert failures(slack_sink) == []
    (report,) = [p for p in slack_sink.payloads() if p["text"].startswith("[INFO] Monthly maintenance")]
    assert "DRY RUN: 17 completed enrollments would be deleted" in report["text"]
    assert "17 enrollments completed before" in json.dumps(report["blocks"])
    assert "would be deleted; nothing changed" in json.dumps(report["blocks"])


@pytest.mark.e2e
@pytest.mark.parametrize("value", [0, "yes"])
def test_monthly_cleanup_refuses_a_dry_run_that_is_not_a_boolean(
    dagbag, run_dag, forget_runs, db, seeded_enrollments, slack_sink, monkeypatch, value
):
    """The DAG's Param refuses it before the run starts; without the Param schema (a task run on
    its own) the cleanup task refuses it itself, not retried, and nothing is deleted."""
    from airflow.sdk.exceptions import ParamValidationError

    monkeypatch.setenv("AIRFLOW_VAR_NURTURE_OPS_MAINTENANCE", json.dumps({"cleanup_mode": "delete"}))
    before = snapshot(db)
    with pytest.raises(ParamValidationError, match="dry_run"):
        run_dag(DAG_ID, RUN, run_conf={"dry_run": value})
    with without_param(dagbag.get_dag(DAG_ID), "dry_run"):
        states = run_dag(DAG_ID, RUN, run_conf={"dry_run": value})
    assert states[TASK_ID] == "failed", states
    assert snapshot(db) == before
    (failure,) = failures(slack_sink)
    assert f"dry_run must be true or false, got {type(value).__name__} {value!r}" in failure.splitlines()[0]
    assert "(bad input: not retried; nothing was changed)" in failure


# --------------------------------------------------------------------------- point 11: under load


def test_a_cleanup_batch_that_waits_too_long_for_a_lock_is_retried(leads_db, db, seeded_enrollments):
    lines: list[str] = []
    with psycopg.connect(leads_db) as blocker:
        blocker.execute("LOCK TABLE lead_campaign_enrollments IN SHARE MODE")

        def log(line: str) -> None:
            lines.append(line)
            if line.startswith("lock timeout in batch 1:"):
                blocker.rollback()

        result = run_cleanup(db, run_id="run-1", mode="delete", log=log)
    assert result["reconciled"] is True and result["enrollments"]["moved"] == 17
    assert result["lock_retries"] == 1
    assert [line for line in lines if line.startswith("lock timeout")] == [
        "lock timeout in batch 1: waited more than 0.2 s for a lock (canceling statement due to lock timeout); "
        "rolled back, trying again in 0.05 s (attempt 2 of 3)"
    ]


def test_a_cleanup_batch_that_never_gets_its_locks_stops_the_run(leads_db, db, seeded_enrollments):
    before = snapshot(db)
    with psycopg.connect(leads_db) as blocker:
        blocker.execute("LOCK TABLE lead_campaign_enrollments IN SHARE MODE")
        with pytest.raises(ArchiveLockTimeoutError) as info:
            run_cleanup(db, run_id="run-1", mode="delete")
        blocker.rollback()
    assert str(info.value).startswith(
        "batch 1 of the cleanup of completed enrollments could not get its locks within 0.2 s on 3 attempts"
    )
    assert snapshot(db) == before


def test_a_cleanup_through_port_6543_is_refused(leads_db, db, seeded_enrollments):
    before = snapshot(db)
    try:
        forwarder = TcpForwarder(6543, pg.PORT)
    except OSError as exc:
        pytest.skip(f"could not listen on port 6543: {exc}")
    dsn = leads_db.replace(f"{pg.HOST}:{pg.PORT}/", f"{forwarder.host}:6543/")
    with forwarder, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.port == 6543
        with pytest.raises(ArchiveSessionError) as info:
            run_cleanup(conn, run_id="through-the-pooler", mode="delete")
    assert str(info.value).startswith("The cleanup of completed enrollments needs a session-mode connection")
    assert snapshot(db) == before
