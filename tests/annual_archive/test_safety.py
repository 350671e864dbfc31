"""The annual archive with customer data at stake (issue 9), against the real PostgreSQL:

- point 1: the age guard is anchored on the earlier of the run's date and the real clock, so a
  run dated in the future (function, plan_archive through dag.test()) moves nothing;
- point 4: dry_run is True or False, nothing else (function, plan_archive without the Param schema);
- point 11: batches under load: an event insert racing a batch (threads, a second connection),
  lock timeouts retried then reported, a stalled batch ended by PostgreSQL, and the session-mode
  checks of the run lock (a crafted pooler, and a real connection on port 6543).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from dev import pg
from nurture_ops.annual_archive.archive import (
    ARCHIVE_LOCK_KEY,
    DEFAULT_SENDS_BATCH_SIZE,
    archive_sends_and_events,
    parse_cutoff,
)
from nurture_ops.annual_archive.report import annual_report
from nurture_ops.core.archiving import (
    CLOCK_SKEW_TOLERANCE,
    ArchiveError,
    ArchiveLockTimeoutError,
    ArchiveSessionError,
    BatchLimits,
    SessionLock,
    check_age,
    check_dry_run,
    run_batch,
    verify_session_lock,
)
from tests.builders import NOW, Seed, archive_run_ids, rows
from tests.conftest import forgetting_runs, without_param
from tests.tcp_forward import TcpForwarder

DAG_ID = "nurture_annual_archive"
CUTOFF = NOW - timedelta(days=365)
FUTURE = datetime(2100, 1, 2, 4, 0, tzinfo=UTC)  # `airflow dags test nurture_annual_archive 2100-01-02`
FAST = BatchLimits(lock_timeout_ms=200, retry_delay_s=0.05)
TABLES = ("email_sends", "email_events", "email_sends_archive", "email_events_archive")


class Crash(Exception):
    """What an injected crash raises."""


@pytest.fixture
def forget_runs(airflow_db):
    """The DagRuns of DAG_ID this test creates are deleted afterwards (conftest.forgetting_runs)."""
    with forgetting_runs(DAG_ID):
        yield


def snapshot(db) -> dict:
    return {table: rows(db, table) for table in TABLES}


def quiet(line: str) -> None:
    pass


def failures(sink) -> list[str]:
    """The failure posts: their 300-character text, then the whole error of the message's block."""
    return [
        p["text"] + "\n" + "\n".join(b["text"]["text"] for b in p["blocks"] if b["type"] == "section")
        for p in sink.payloads()
        if "Task failed" in p["text"]
    ]


def run_archive(conn, *, run_id: str, batch_size: int = 5, log=quiet, **kwargs) -> dict:
    kwargs.setdefault("limits", FAST)
    return archive_sends_and_events(
        conn, cutoff=CUTOFF, batch_size=batch_size, run_id=run_id, archived_at=NOW, log=log, **kwargs
    )


def send_created_now(db, seeded) -> int:
    """A send created right now by the real clock (what a future-dated run would take for old)."""
    return Seed(db, now=NOW).send(seeded.lead_ids[0], seeded.campaign_id, created_at=datetime.now(UTC))


def assert_nothing_lost(db, before: dict) -> None:
    """Every row that was live before is now live or archived, once, unchanged; events never
    dangle (live events have live sends, archived events archived sends)."""
    live_s, live_e = rows(db, "email_sends"), rows(db, "email_events")
    arch_s, arch_e = rows(db, "email_sends_archive"), rows(db, "email_events_archive")
    assert not set(live_s) & set(arch_s) and not set(live_e) & set(arch_e)
    all_sends, all_events = {**live_s, **arch_s}, {**live_e, **arch_e}
    assert {i: all_sends[i] for i in before["email_sends"]} == before["email_sends"]
    assert {i: all_events[i] for i in before["email_events"]} == before["email_events"]
    assert {e["email_send_id"] for e in live_e.values()} <= set(live_s)
    assert {e["email_send_id"] for e in arch_e.values()} <= set(arch_s)


# --------------------------------------------------------------------------- point 1: the clock


def test_archive_refuses_a_run_dated_in_the_future(db, seeded_sends):
    """archived_at in 2100 and a cutoff a year before it: by the run's date alone every send,
    today's included, would be "older than a year". Refused, dry run or not; nothing moved."""
    today_send = send_created_now(db, seeded_sends)
    before = snapshot(db)
    today = datetime.now(UTC).date().isoformat()
    for dry_run in (False, True):
        with pytest.raises(ValueError) as info:
            archive_sends_and_events(
                db,
                cutoff=FUTURE - timedelta(days=365),
                run_id="future",
                archived_at=FUTURE,
                dry_run=dry_run,
                log=quiet,
            )
        message = str(info.value)
        assert "less than 365 days before today" in message
        assert "2100-01-02" in message and today in message  # the run's date and today's
        assert "nothing was changed" in message
    assert snapshot(db) == before
    assert today_send in rows(db, "email_sends")
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None


def test_archive_dated_today_still_archives_what_is_old(db, seeded_sends):
    """The clock guard does not refuse a normal run: dated now, with a cutoff a year before now,
    it moves the 400-day-old sends and leaves today's and the 10-day-old ones."""
    today_send = send_created_now(db, seeded_sends)
    now = datetime.now(UTC)
    result = archive_sends_and_events(
        db, cutoff=now - timedelta(days=365), run_id="today", archived_at=now, limits=FAST, log=quiet
    )
    assert result["reconciled"] is True
    assert sorted(rows(db, "email_sends_archive")) == sorted(seeded_sends.old_send_ids)
    assert today_send in rows(db, "email_sends")


def test_check_age_measures_from_the_earlier_of_the_run_and_the_clock():
    run = datetime(2027, 1, 2, 4, 0, tzinfo=UTC)
    a_year_before = run - timedelta(days=365)
    # A scheduled run whose worker clock lags a little: accepted.
    check_age("cutoff", a_year_before, run, 365, now=run - CLOCK_SKEW_TOLERANCE + timedelta(seconds=1))
    # The run's date ahead of the clock by more than the tolerance: refused, naming both dates and
    # the clock that said so.
    with pytest.raises(ValueError) as info:
        check_age(
            "cutoff", a_year_before, run, 365, now=run - timedelta(days=1), clock="the database's clock"
        )
    message = str(info.value)
    assert "less than 365 days before today (2027-01-01 04:00 UTC by the database's clock)" in message
    assert "the run's date is 2027-01-02 04:00 UTC" in message
    assert "Use 2026-01-01T04:10:00+00:00 or earlier" in message
    # The run's own date is still checked first.
    with pytest.raises(ValueError, match="less than 365 days before the run"):
        check_age("cutoff", run - timedelta(days=10), run, 365, now=run)


def test_parse_cutoff_measures_from_the_earlier_of_the_run_date_and_today():
    today = date(2026, 12, 1)
    # A past run: as before, from the run's date.
    assert parse_cutoff({}, run_date=date(2026, 6, 15), today=today) == date(2025, 6, 15)
    # A future run: its default (a year before it) is refused ...
    with pytest.raises(ValueError) as info:
        parse_cutoff({}, run_date=date(2100, 1, 2), today=today)
    assert str(info.value).startswith(
        "The default cutoff 2099-01-02 (one year before the run date) is after today (2026-12-01), "
        "although the run date is 2100-01-02"
    )
    assert "on or before 2025-12-01" in str(info.value)
    with pytest.raises(
        ValueError, match=r"cutoff_date 2026-01-01 is only 334 days before today \(2026-12-01\)"
    ):
        parse_cutoff({"cutoff_date": "2026-01-01"}, run_date=date(2100, 1, 2), today=today)
    # ... but a cutoff old enough by both is fine.
    assert parse_cutoff({"cutoff_date": "2025-12-01"}, run_date=date(2100, 1, 2), today=today) == date(
        2025, 12, 1
    )


@pytest.mark.e2e
def test_plan_archive_refuses_a_future_run_date(run_dag, forget_runs, db, seeded_sends, slack_sink):
    """`dag.test()` dated 2100-01-02 (as `airflow dags test nurture_annual_archive 2100-01-02`):
    plan_archive fails, not retried, naming both dates; nothing is archived."""
    today_send = send_created_now(db, seeded_sends)
    before = snapshot(db)
    states = run_dag(DAG_ID, FUTURE)
    assert states["plan_archive"] == "failed", states
    assert states["archive"] == states["archive_report"] == "upstream_failed"
    assert snapshot(db) == before and today_send in rows(db, "email_sends")
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None
    (failure,) = failures(slack_sink)
    first_line = failure.splitlines()[0]
    assert first_line.startswith(
        f"[CRITICAL] Task failed: {DAG_ID}.plan_archive: The default cutoff 2099-01-02"
    )
    # The two dates come first, within the message's first 300 characters.
    assert "although the run date is 2100-01-02" in first_line
    assert f"today ({datetime.now(UTC).date().isoformat()})" in first_line
    assert "(bad input: not retried; nothing was changed)" in failure


# --------------------------------------------------------------------------- point 4: dry_run


@pytest.mark.parametrize("value", [0, "", None, 1, "false", "true"])
def test_archive_dry_run_must_be_a_boolean(db, seeded_sends, value):
    """0, "" and None used to mean a real run, 1 and "false" a dry run: all refused now."""
    before = snapshot(db)
    with pytest.raises(ValueError, match="dry_run must be true or false, got"):
        run_archive(db, run_id="r", dry_run=value)
    assert snapshot(db) == before
    assert check_dry_run(True) is True and check_dry_run(False) is False


@pytest.mark.e2e
@pytest.mark.parametrize("value", [0, "", None])
def test_plan_archive_refuses_a_dry_run_that_is_not_a_boolean(
    dagbag, run_dag, forget_runs, db, seeded_sends, slack_sink, value
):
    """Without the Param schema, {"dry_run": 0}, "" or null used to run a real archive (`or False`).
    Now plan_archive fails at once (not retried) and nothing moves."""
    before = snapshot(db)
    with without_param(dagbag.get_dag(DAG_ID), "dry_run"):
        states = run_dag(DAG_ID, NOW, run_conf={"dry_run": value})
    assert states["plan_archive"] == "failed", states
    assert states["archive"] == "upstream_failed"
    assert snapshot(db) == before
    (failure,) = failures(slack_sink)
    assert f"dry_run must be true or false, got {type(value).__name__} {value!r}" in failure.splitlines()[0]
    assert "(bad input: not retried; nothing was changed)" in failure


# --------------------------------------------------------------------------- point 11: under load


def _wait_until_waiting_on_a_lock(dsn: str, application_name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while (
            conn.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchone()
            or [None]
        )[0] != "Lock":
            assert time.monotonic() < deadline, f"{application_name} never waited on a lock"
            time.sleep(0.02)


class RacingInsert(threading.Thread):
    """What the Event Tracker does for a webhook: one autocommit INSERT of an event for a send."""

    def __init__(self, dsn: str, send_id: int, name: str = "racing_tracker"):
        super().__init__(daemon=True)
        self.dsn, self.send_id, self.name_ = dsn, send_id, name
        self.event_id: int | None = None
        self.error: psycopg.Error | None = None
        self.waited = 0.0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name=self.name_) as conn:
            started = time.monotonic()
            try:
                self.event_id = conn.execute(
                    "INSERT INTO email_events (email_send_id, event_type, event_hash)"
                    " VALUES (%s, 'open', 'racing-event') RETURNING id",
                    (self.send_id,),
                ).fetchone()[0]
            except psycopg.Error as exc:
                self.error = exc
            self.waited = time.monotonic() - started


def archive_holding_batch(dsn: str, batch: int, *, hold_until: threading.Event, then=None, **kwargs):
    """An archive run in a thread whose log callback, inside batch `batch` (its sends locked),
    signals `locked` and waits for `hold_until`, then calls `then` (e.g. to crash the batch)."""
    locked, outcome = threading.Event(), {}

    def log(line: str) -> None:
        if line.startswith(f"moving batch {batch}:"):
            locked.set()
            assert hold_until.wait(30)
            if then is not None:
                then()

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True, application_name="archive_under_load") as conn:
            try:
                outcome["result"] = run_archive(conn, run_id="under-load", log=log, **kwargs)
            except BaseException as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, locked, outcome


def test_event_insert_racing_a_batch_waits_for_it_then_gets_a_foreign_key_violation(
    leads_db, db, seeded_sends
):
    """The insert for a send in the open batch waits until the batch commits (no longer), then is
    refused by the foreign key, because its send has moved. Nothing stored is lost: the send is
    archived with all its events; the refused event is nowhere, and its sender was told."""
    target = sorted(seeded_sends.old_send_ids)[1]  # in batch 1
    before = snapshot(db)
    release = threading.Event()
    archive, locked, outcome = archive_holding_batch(leads_db, 1, hold_until=release)
    assert locked.wait(30)
    insert = RacingInsert(leads_db, target)
    insert.start()
    _wait_until_waiting_on_a_lock(leads_db, "racing_tracker")
    time.sleep(0.3)  # the batch holds its locks a little longer
    release.set()
    archive.join(30)
    insert.join(30)

    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result["reconciled"] is True and result["sends"]["moved"] == 23
    assert isinstance(insert.error, psycopg.errors.ForeignKeyViolation), insert.error
    assert insert.error.diag.constraint_name == "email_events_email_send_id_fkey"
    assert 0.3 <= insert.waited < 10  # it waited for the batch, and only for the batch
    assert target in rows(db, "email_sends_archive")
    archived_events = [e for e in rows(db, "email_events_archive").values() if e["email_send_id"] == target]
    assert len(archived_events) == seeded_sends.events_by_send[target]
    assert not [
        e
        for table in ("email_events", "email_events_archive")
        for e in rows(db, table).values()
        if e["event_hash"] == "racing-event"
    ]
    assert_nothing_lost(db, before)

    # Later events for that (archived) send are refused at once, without waiting.
    late = RacingInsert(leads_db, target, name="late_tracker")
    late.run()
    assert isinstance(late.error, psycopg.errors.ForeignKeyViolation) and late.waited < 2


def test_event_insert_racing_a_batch_that_rolls_back_succeeds_and_moves_later_with_its_send(
    leads_db, db, seeded_sends
):
    """The batch the insert waits on rolls back (here a crash): the send is still live, the insert
    succeeds, its event is live with its send, and the next run archives them together."""
    target = sorted(seeded_sends.old_send_ids)[0]
    before = snapshot(db)
    release = threading.Event()

    def crash() -> None:
        raise Crash("injected crash inside batch 1")

    archive, locked, outcome = archive_holding_batch(leads_db, 1, hold_until=release, then=crash)
    assert locked.wait(30)
    insert = RacingInsert(leads_db, target)
    insert.start()
    _wait_until_waiting_on_a_lock(leads_db, "racing_tracker")
    release.set()
    archive.join(30)
    insert.join(30)

    assert isinstance(outcome.get("error"), Crash)
    assert insert.error is None and insert.event_id is not None
    assert rows(db, "email_events")[insert.event_id]["email_send_id"] == target
    assert rows(db, "email_sends_archive") == {}  # batch 1 rolled back whole
    assert_nothing_lost(db, before)

    result = run_archive(db, run_id="rerun")
    assert result["reconciled"] is True and result["sends"]["moved"] == 23
    archived = rows(db, "email_events_archive")
    assert archived[insert.event_id]["email_send_id"] == target  # moved with its send
    assert result["events"]["moved"] == seeded_sends.old_event_count + 1
    assert_nothing_lost(db, before)


def test_a_send_whose_event_insert_is_in_progress_is_skipped_and_moved_by_the_next_run(
    leads_db, db, seeded_sends
):
    """The tracker's transaction inserted an event first (its foreign-key check locks the send):
    the batch skips that send instead of waiting; it stays live with its events until the next run."""
    target = sorted(seeded_sends.old_send_ids)[6]  # batch 2
    before = snapshot(db)
    with psycopg.connect(leads_db) as tracker:
        event_id = tracker.execute(
            "INSERT INTO email_events (email_send_id, event_type) VALUES (%s, 'click') RETURNING id",
            (target,),
        ).fetchone()[0]
        started = time.monotonic()
        result = run_archive(db, run_id="run-1")
        assert time.monotonic() - started < 10  # never waited on the tracker
        tracker.commit()
    assert result["reconciled"] is True and result["left_locked"] == 1
    assert result["sends"]["moved"] == 22 and target in rows(db, "email_sends")
    assert rows(db, "email_events")[event_id]["email_send_id"] == target
    assert_nothing_lost(db, before)

    again = run_archive(db, run_id="run-2")
    assert again["sends"]["moved"] == 1 and again["left_locked"] == 0
    assert rows(db, "email_events_archive")[event_id]["email_send_id"] == target
    assert_nothing_lost(db, before)


def test_a_batch_that_waits_too_long_for_a_lock_is_rolled_back_and_retried(leads_db, db, seeded_sends):
    """Another session holds a lock the batch needs (SHARE on email_events): the batch gives up
    after lock_timeout, rolls back, and succeeds on the next attempt once the lock is gone. The
    per-batch lock_timeout is SET LOCAL: the connection's own setting is unchanged."""
    before = snapshot(db)
    lines: list[str] = []
    with psycopg.connect(leads_db) as blocker:
        blocker.execute("LOCK TABLE email_events IN SHARE MODE")

        def log(line: str) -> None:
            lines.append(line)
            if line.startswith("lock timeout in batch 1:"):
                blocker.rollback()  # the other session finishes

        result = run_archive(db, run_id="run-1", log=log)
    assert result["reconciled"] is True and result["sends"]["moved"] == 23
    assert result["lock_retries"] == 1
    (retry,) = [line for line in lines if line.startswith("lock timeout")]
    assert retry.startswith("lock timeout in batch 1: waited more than 0.2 s for a lock")
    assert retry.endswith("rolled back, trying again in 0.05 s (attempt 2 of 3)")
    assert db.execute("SHOW lock_timeout").fetchone()[0] == "0"
    assert_nothing_lost(db, before)
    sections, _ = annual_report(result)
    assert "1 lock timeout: a batch waited too long on a lock held by another session" in sections[0]


def test_a_batch_that_never_gets_its_locks_stops_the_run_after_its_attempts(leads_db, db, seeded_sends):
    """The lock stays held: batch 2 is tried 3 times, 0.2 s each, then the run stops with a clear
    error; batch 1 stays archived, batch 2 live; a rerun later finishes the job."""
    before = snapshot(db)
    old = sorted(seeded_sends.old_send_ids)
    with psycopg.connect(leads_db, application_name="long_transaction") as blocker:

        def log(line: str) -> None:
            if line.startswith("batch 1:"):
                blocker.execute("LOCK TABLE email_events IN SHARE MODE")

        started = time.monotonic()
        with pytest.raises(ArchiveLockTimeoutError) as info:
            run_archive(db, run_id="run-1", log=log)
        assert time.monotonic() - started < 10
        blocker.rollback()
    message = str(info.value)
    assert message.startswith(
        "batch 2 of the archive of old sends and events could not get its locks within 0.2 s on 3 attempts"
    )
    assert "batches before it stay moved" in message and "Rerun when the database is quieter" in message
    assert sorted(rows(db, "email_sends_archive")) == old[:5]
    assert_nothing_lost(db, before)
    assert run_archive(db, run_id="run-2")["sends"]["moved"] == 18
    assert archive_run_ids(db, "email_sends_archive") == {"run-1": 5, "run-2": 18}


def test_a_worker_stalled_inside_a_batch_has_its_session_ended_and_the_waiting_insert_succeeds(
    leads_db, db, seeded_sends
):
    """The worker stops inside batch 2 (here: its log call sleeps) longer than the batch's idle
    timeout: PostgreSQL ends the session, batch 2 rolls back and frees its locks, so the event
    insert waiting on one of its sends goes through; the run fails with a clear error."""
    target = sorted(seeded_sends.old_send_ids)[7]  # batch 2
    before = snapshot(db)
    limits = BatchLimits(lock_timeout_ms=200, idle_timeout_ms=800, retry_delay_s=0.05)
    release = threading.Event()
    archive, locked, outcome = archive_holding_batch(
        leads_db, 2, hold_until=release, then=lambda: time.sleep(1.5), limits=limits
    )
    assert locked.wait(30)
    insert = RacingInsert(leads_db, target)
    insert.start()
    _wait_until_waiting_on_a_lock(leads_db, "racing_tracker")
    release.set()
    archive.join(30)
    insert.join(30)

    error = outcome.get("error")
    assert isinstance(error, ArchiveError), error
    assert (
        "batch 2 of the archive of old sends and events: the worker stalled inside the batch for more than 0.8 s"
        in str(error)
    )
    assert insert.error is None and insert.waited < 5  # bounded by the idle timeout, not the stall
    assert sorted(rows(db, "email_sends_archive")) == sorted(seeded_sends.old_send_ids)[:5]
    assert rows(db, "email_events")[insert.event_id]["email_send_id"] == target
    assert_nothing_lost(db, before)
    assert run_archive(db, run_id="rerun")["sends"]["moved"] == 18
    assert rows(db, "email_events_archive")[insert.event_id]["email_send_id"] == target


def test_default_batches_are_small():
    assert DEFAULT_SENDS_BATCH_SIZE == 1_000
    assert BatchLimits().lock_timeout_ms == 5_000 and BatchLimits().attempts == 3


# --------------------------------------------------------------------------- point 11: session mode


def test_a_lock_taken_on_another_server_session_is_detected(leads_db, db):
    """What a transaction-mode pooler does: the statement taking the lock ran on one server session
    (A), the next one on another (B). Checked on B, the lock is not there: ArchiveSessionError."""
    with psycopg.connect(leads_db, autocommit=True) as a:
        pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert a.execute("SELECT pg_try_advisory_lock(%s)", (ARCHIVE_LOCK_KEY,)).fetchone()[0]
        verify_session_lock(a, ARCHIVE_LOCK_KEY, pid_a, "archive")  # on A itself: fine
        with psycopg.connect(leads_db, autocommit=True) as b:
            pid_b = b.execute("SELECT pg_backend_pid()").fetchone()[0]
            with pytest.raises(ArchiveSessionError) as info:
                verify_session_lock(b, ARCHIVE_LOCK_KEY, pid_a, "archive of old sends and events")
            message = str(info.value)
            assert f"taken by server session pid {pid_a}" in message
            assert f"ran on pid {pid_b}, which does not hold it" in message
            assert "transaction-mode pooler" in message and "port 6543" in message
            assert f"pg_terminate_backend({pid_a})" in message
            # Same session, lock not held (released behind our back): also refused.
            with pytest.raises(ArchiveSessionError, match="pg_locks shows it does not hold it"):
                verify_session_lock(b, ARCHIVE_LOCK_KEY, pid_b, "archive")
        # Released now, not when the closed session's backend exits (the next test archives).
        assert a.execute("SELECT pg_advisory_unlock(%s)", (ARCHIVE_LOCK_KEY,)).fetchone()[0]


def test_a_batch_on_another_server_session_than_the_lock_is_refused_before_it_moves_anything(
    db, seeded_sends
):
    before = snapshot(db)
    moved: list[int] = []
    own_pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with pytest.raises(
        ArchiveSessionError,
        match=rf"runs on server session pid {own_pid}, but the run's lock is held by pid 1\b",
    ):
        run_batch(
            db,
            1,
            lambda: moved.append(1),
            limits=FAST,
            session=SessionLock(ARCHIVE_LOCK_KEY, 1),
            what="archive of old sends and events",
            log=quiet,
        )
    assert moved == [] and snapshot(db) == before


def test_a_connection_to_port_6543_is_refused_before_anything_is_written(leads_db, db, seeded_sends):
    """A real connection on port 6543 (Supabase's transaction-mode pooler port; here a plain TCP
    forwarder to the test server, on a loopback address of its own): the archive refuses it,
    nothing written, tables not created."""
    before = snapshot(db)
    try:
        forwarder = TcpForwarder(6543, pg.PORT)
    except OSError as exc:
        pytest.skip(f"port 6543 is taken on this machine: {exc}")
    dsn = leads_db.replace(f"{pg.HOST}:{pg.PORT}/", f"{forwarder.host}:6543/")
    with forwarder, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.port == 6543
        with pytest.raises(ArchiveSessionError) as info:
            run_archive(conn, run_id="through-the-pooler")
        # A dry run only counts, takes no lock, and is allowed.
        assert run_archive(conn, run_id="dry", dry_run=True)["sends"]["would_move"] == 23
    message = str(info.value)
    assert "goes to port 6543" in message and "transaction-mode pooler (Supavisor)" in message
    assert "port 5432" in message and message.endswith("Nothing was changed.")
    assert snapshot(db) == before
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None
