"""Annual archive of old sends/events and monthly cleanup of completed enrollments, against a real
PostgreSQL: batching, crash injection and resume, reconciliation, dry run, guards and locking."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime, timedelta

import psycopg
import pytest

from nurture_ops.annual_archive.archive import (
    ARCHIVE_LOCK_KEY,
    archive_sends_and_events,
    cutoff_datetime,
    parse_cutoff,
)
from nurture_ops.core.archiving import (
    ArchiveError,
    ArchiveLockedError,
    ArchiveSchemaError,
    ReconciliationError,
    ensure_archive_tables,
    reconcile,
)
from nurture_ops.monthly_maintenance.cleanup import (
    CLEANUP_LOCK_KEY,
    cleanup_completed_enrollments,
    completed_enrollments_cutoff,
)
from tests.builders import NOW, Seed, Seeded, archive_run_ids, rows, seed_sends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CUTOFF = NOW - timedelta(days=365)  # 400-day-old sends are older, 10-day-old ones are not
ENROLLMENT_CUTOFF = NOW - timedelta(days=90)


class Crash(Exception):
    """What the injected crash raises."""


def crash_on_progress_line(n: int, lines: list[str]):
    """A log callback that records every line and raises on the n-th progress ("batch ...") line."""
    seen = {"batches": 0}

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("batch "):
            seen["batches"] += 1
            if seen["batches"] == n:
                raise Crash(f"injected crash after {line!r}")

    return log


def run_archive(conn, *, run_id: str, batch_size: int = 5, log=None, **kwargs) -> dict:
    return archive_sends_and_events(
        conn,
        cutoff=CUTOFF,
        batch_size=batch_size,
        run_id=run_id,
        archived_at=NOW,
        log=log or (lambda line: None),
        **kwargs,
    )


def assert_consistent(conn, seeded: Seeded, live_before_sends: dict, live_before_events: dict) -> None:
    """No row lost, none duplicated, archived rows unchanged, events never orphaned."""
    live_sends, live_events = rows(conn, "email_sends"), rows(conn, "email_events")
    arch_sends, arch_events = rows(conn, "email_sends_archive"), rows(conn, "email_events_archive")
    assert not set(live_sends) & set(arch_sends)
    assert not set(live_events) & set(arch_events)
    assert {**live_sends, **arch_sends} == live_before_sends
    assert {**live_events, **arch_events} == live_before_events
    # Every archived event's send is archived; every live event's send is live.
    assert {e["email_send_id"] for e in arch_events.values()} <= set(arch_sends)
    assert {e["email_send_id"] for e in live_events.values()} <= set(live_sends)
    # Only old sends are ever archived.
    assert set(arch_sends) <= set(seeded.old_send_ids)


# --------------------------------------------------------------------------- parse_cutoff


def test_parse_cutoff_defaults_to_one_year_before_the_run():
    assert parse_cutoff({}, run_date=date(2026, 6, 15)) == date(2025, 6, 15)
    assert parse_cutoff({"cutoff_date": None}, run_date=date(2026, 6, 15)) == date(2025, 6, 15)
    assert parse_cutoff({"cutoff_date": "  "}, run_date=date(2026, 6, 15)) == date(2025, 6, 15)
    assert parse_cutoff(None, run_date=date(2028, 2, 29), today=date(2028, 3, 1)) == date(2027, 2, 28)


def test_parse_cutoff_accepts_an_old_enough_date():
    run = date(2026, 6, 15)
    assert parse_cutoff({"cutoff_date": "2024-01-01"}, run_date=run) == date(2024, 1, 1)
    assert parse_cutoff({"cutoff_date": date(2024, 1, 1)}, run_date=run) == date(2024, 1, 1)
    exactly_365 = run - timedelta(days=365)
    assert parse_cutoff({"cutoff_date": exactly_365.isoformat()}, run_date=run) == exactly_365


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-13-01", "not a valid calendar date"),
        ("2023-02-29", "not a valid calendar date"),
        ("01/02/2024", "YYYY-MM-DD"),
        ("2024-1-1", "YYYY-MM-DD"),
        ("20240101", "YYYY-MM-DD"),
        ("last year", "YYYY-MM-DD"),
        ("2024-01-01; DROP TABLE email_sends", "YYYY-MM-DD"),
        (20240101, "must be a string"),
        (datetime(2024, 1, 1, 0, 0), "not a date and time"),
        ("2026-07-01", "after the run date"),
        ("2026-06-15", "only 0 days before"),
        ("2025-06-16", "only 364 days before"),
    ],
)
def test_parse_cutoff_rejects_bad_values(value, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_cutoff({"cutoff_date": value}, run_date=date(2026, 6, 15))
    if "days before" in message or "after the run" in message:
        assert "2025-06-15" in str(info.value)  # tells which date would be accepted


# --------------------------------------------------------------------------- annual archive


def test_archive_moves_old_sends_with_all_their_events(db, seeded_sends):
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    lines: list[str] = []
    result = run_archive(db, run_id="run-1", log=lines.append)

    old, old_events = len(seeded_sends.old_send_ids), seeded_sends.old_event_count
    assert (old, old_events) == (23, 33)
    assert result["sends"] == {
        "live_before": old,
        "live_after": 0,
        "archived_before": 0,
        "archived_after": old,
        "moved": old,
    }
    assert result["events"] == {
        "live_before": old_events,
        "live_after": 0,
        "archived_before": 0,
        "archived_after": old_events,
        "moved": old_events,
        "arrived_during_run": 0,
    }
    assert result["batches"] == math.ceil(old / 5) == 5
    assert result["reconciled"] is True and result["left_locked"] == 0

    assert sorted(rows(db, "email_sends")) == sorted(seeded_sends.recent_send_ids)
    assert len(rows(db, "email_events")) == seeded_sends.recent_event_count == 14
    assert sorted(rows(db, "email_sends_archive")) == sorted(seeded_sends.old_send_ids)
    # Events of old sends that happened recently (an old email opened again) moved with their send.
    recent_events_of_old_sends = db.execute(
        "SELECT COUNT(*) FROM email_events_archive WHERE event_timestamp >= %s", (CUTOFF,)
    ).fetchone()[0]
    assert recent_events_of_old_sends == sum(
        1 for s in seeded_sends.old_send_ids if seeded_sends.events_by_send[s] == 3
    )
    assert recent_events_of_old_sends > 0
    assert_consistent(db, seeded_sends, before_sends, before_events)
    assert archive_run_ids(db, "email_sends_archive") == {"run-1": old}
    assert db.execute("SELECT DISTINCT archived_at FROM email_events_archive").fetchall() == [(NOW,)]

    progress = [line for line in lines if line.startswith("batch ")]
    assert len(progress) == 5
    first_events = sum(seeded_sends.events_by_send[s] for s in sorted(seeded_sends.old_send_ids)[:5])
    assert progress[0] == f"batch 1: 5 sends, {first_events} events, 5/23 sends (21%)"
    assert progress[-1].endswith("23/23 sends (100%)")


def test_archive_crash_after_batch_then_rerun_continues(leads_db, db, seeded_sends):
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    old_sorted = sorted(seeded_sends.old_send_ids)

    # A connection like the task's (not autocommit): the batches commit on their own regardless.
    with psycopg.connect(leads_db) as conn:
        lines: list[str] = []
        with pytest.raises(Crash):
            run_archive(conn, run_id="run-1", log=crash_on_progress_line(3, lines))
        conn.rollback()  # what the task's connection does on failure: must not undo the batches
        assert conn.autocommit is False  # put back as it was

    # Exactly three whole batches moved (batch 3 had committed before its progress line).
    assert sorted(rows(db, "email_sends_archive")) == old_sorted[:15]
    archived_events = rows(db, "email_events_archive")
    assert len(archived_events) == sum(seeded_sends.events_by_send[s] for s in old_sorted[:15])
    assert_consistent(db, seeded_sends, before_sends, before_events)
    # The crashed run's lock went with it: a rerun is not refused.
    result = run_archive(db, run_id="run-2")
    assert result["sends"] == {
        "live_before": 8,
        "live_after": 0,
        "archived_before": 15,
        "archived_after": 23,
        "moved": 8,
    }
    assert result["events"]["moved"] == sum(seeded_sends.events_by_send[s] for s in old_sorted[15:])
    assert result["events"]["archived_after"] == seeded_sends.old_event_count
    assert result["reconciled"] is True
    assert archive_run_ids(db, "email_sends_archive") == {"run-1": 15, "run-2": 8}
    assert sorted(rows(db, "email_sends_archive")) == old_sorted
    assert_consistent(db, seeded_sends, before_sends, before_events)

    # A third run finds nothing to move and still reconciles.
    again = run_archive(db, run_id="run-3")
    assert again["sends"]["moved"] == 0 and again["sends"]["archived_after"] == 23
    assert again["batches"] == 0


def test_archive_failure_inside_a_batch_rolls_the_whole_batch_back(db, seeded_sends):
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    old_sorted = sorted(seeded_sends.old_send_ids)
    ensure_archive_tables(db)
    # Fail while inserting the 3rd batch's sends, after its events were already moved.
    poisoned = old_sorted[12]
    db.execute(
        f"""
        CREATE FUNCTION fail_archive() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = {poisoned} THEN RAISE EXCEPTION 'injected failure on send %', NEW.id; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_archive BEFORE INSERT ON email_sends_archive
        FOR EACH ROW EXECUTE FUNCTION fail_archive();
        """
    )
    with pytest.raises(psycopg.errors.RaiseException, match="injected failure"):
        run_archive(db, run_id="run-1")

    assert sorted(rows(db, "email_sends_archive")) == old_sorted[:10]
    live_events = rows(db, "email_events")
    for send_id in old_sorted[10:15]:  # batch 3's events are back (were never moved)
        assert (
            sum(1 for e in live_events.values() if e["email_send_id"] == send_id)
            == (seeded_sends.events_by_send[send_id])
        )
    assert_consistent(db, seeded_sends, before_sends, before_events)

    db.execute("DROP TRIGGER fail_archive ON email_sends_archive")
    result = run_archive(db, run_id="run-2")
    assert result["sends"]["moved"] == 13 and result["reconciled"] is True
    assert sorted(rows(db, "email_sends_archive")) == old_sorted
    assert_consistent(db, seeded_sends, before_sends, before_events)


def _backend_gone(leads_db: str, application_name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(leads_db, autocommit=True) as conn:
        while conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed run's backend did not go away"
            time.sleep(0.05)


def test_archive_process_killed_between_batches_then_rerun(leads_db, db, seeded_sends):
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    old_sorted = sorted(seeded_sends.old_send_ids)
    script = textwrap.dedent(
        f"""
        import sys, time
        from datetime import datetime
        import psycopg
        from nurture_ops.annual_archive.archive import archive_sends_and_events

        def log(line):
            print(line, flush=True)
            if line.startswith("batch 2:"):
                time.sleep(60)  # killed here

        conn = psycopg.connect({leads_db + "?application_name=killed_archive"!r})
        archive_sends_and_events(
            conn, cutoff=datetime.fromisoformat({CUTOFF.isoformat()!r}), batch_size=5, run_id="killed",
            archived_at=datetime.fromisoformat({NOW.isoformat()!r}), log=log,
        )
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(REPO, "plugins"), REPO])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        output = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("batch 2:") for line in output):
            assert time.monotonic() < deadline, output
            line = proc.stdout.readline()
            assert line, f"the archive process ended early: {output}"
            output.append(line)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    _backend_gone(leads_db, "killed_archive")

    assert sorted(rows(db, "email_sends_archive")) == old_sorted[:10]
    assert_consistent(db, seeded_sends, before_sends, before_events)

    result = run_archive(db, run_id="rerun")
    assert result["sends"]["live_before"] == 13 and result["sends"]["moved"] == 13
    assert result["sends"]["archived_before"] == 10 and result["sends"]["archived_after"] == 23
    assert archive_run_ids(db, "email_sends_archive") == {"killed": 10, "rerun": 13}
    assert_consistent(db, seeded_sends, before_sends, before_events)


def test_archive_dry_run_changes_nothing(db, seeded_sends):
    before = {t: rows(db, t) for t in ("email_sends", "email_events", "lead_campaign_enrollments")}
    lines: list[str] = []
    result = run_archive(db, run_id="dry", dry_run=True, log=lines.append)
    assert result["dry_run"] is True
    assert result["sends"]["would_move"] == 23 and result["sends"]["moved"] == 0
    assert result["events"]["would_move"] == 33 and result["events"]["archived_before"] == 0
    assert lines == [
        f"dry run: would archive 23 sends created before {CUTOFF.isoformat()} and their 33 events, "
        "in about 5 batches of 5; nothing changed"
    ]
    assert {t: rows(db, t) for t in before} == before
    # Not even the archive tables were created.
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None


def test_archive_events_arriving_during_the_run_are_moved_and_reported(leads_db, db, seeded_sends):
    """A webhook event for a year-old send that is not archived yet lands mid-run: it moves with its
    send and the reconciliation reports it instead of calling it a loss."""
    last_old = max(seeded_sends.old_send_ids)

    def log(line: str) -> None:
        if line.startswith("batch 1:"):
            with psycopg.connect(leads_db, autocommit=True) as other:
                Seed(other, now=NOW).event(last_old, "open")

    result = run_archive(db, run_id="run-1", log=log)
    assert result["events"]["live_before"] == 33
    assert result["events"]["moved"] == 34 and result["events"]["arrived_during_run"] == 1
    assert result["events"]["archived_after"] == 34 and result["reconciled"] is True


def test_archive_refuses_a_recent_cutoff_before_any_write(db, seeded_sends):
    before = {t: rows(db, t) for t in ("email_sends", "email_events")}
    for cutoff in (NOW - timedelta(days=30), NOW + timedelta(days=1), NOW - timedelta(days=364)):
        with pytest.raises(ValueError, match="less than 365 days before the run"):
            archive_sends_and_events(db, cutoff=cutoff, run_id="r", archived_at=NOW, log=lambda line: None)
    with pytest.raises(ValueError, match="no time zone"):
        archive_sends_and_events(
            db, cutoff=CUTOFF.replace(tzinfo=None), run_id="r", archived_at=NOW, log=lambda line: None
        )
    with pytest.raises(ValueError, match="batch_size"):
        run_archive(db, run_id="r", batch_size=0)
    with pytest.raises(ValueError, match="run_id"):
        run_archive(db, run_id=" ")
    # The Airflow param path: a bad cutoff_date never reaches the database.
    with pytest.raises(ValueError, match="only 30 days before"):
        parse_cutoff({"cutoff_date": (NOW - timedelta(days=30)).date().isoformat()}, run_date=NOW.date())
    assert {t: rows(db, t) for t in before} == before
    assert db.execute("SELECT TO_REGCLASS('email_sends_archive')").fetchone()[0] is None


def test_cutoff_datetime_is_midnight_utc():
    assert cutoff_datetime(date(2025, 6, 15)).isoformat() == "2025-06-15T00:00:00+00:00"


def test_second_concurrent_archive_is_refused(leads_db, db, seeded_sends):
    first_in_batches, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def slow_log(line: str) -> None:
        if line.startswith("batch 1:"):
            first_in_batches.set()
            assert release.wait(30)

    def first_run() -> None:
        with psycopg.connect(leads_db, autocommit=True, application_name="first_archive") as conn:
            try:
                outcome["result"] = run_archive(conn, run_id="first", log=slow_log)
            except Exception as exc:  # pragma: no cover - reported below
                outcome["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert first_in_batches.wait(30)
        with psycopg.connect(leads_db, autocommit=True) as conn:
            with pytest.raises(
                ArchiveLockedError, match=r"Another archive of old sends and events is running"
            ) as info:
                run_archive(conn, run_id="second")
            assert "first_archive" in str(info.value) and "pid " in str(info.value)
    finally:
        release.set()
        thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["sends"]["moved"] == 23
    # The refused run changed nothing; the first one moved everything exactly once.
    assert archive_run_ids(db, "email_sends_archive") == {"first": 23}
    # Once the first is done, the lock is free again.
    assert run_archive(db, run_id="third")["sends"]["moved"] == 0


def test_a_row_both_live_and_archived_stops_the_run(db, seeded_sends):
    run_archive(db, run_id="run-1")
    restored = min(seeded_sends.old_send_ids)
    # Someone restored a send by hand and left the archived copy.
    db.execute(
        "INSERT INTO email_sends SELECT id, organization_id, enrollment_id, lead_id, campaign_id, "
        "send_status, scheduled_send_time, actual_send_time, failure_reason, bounce_type, "
        "sendgrid_message_id, opened_at, first_click_at, created_at, updated_at "
        "FROM email_sends_archive WHERE id = %s",
        (restored,),
    )
    with pytest.raises(ArchiveError, match=rf"already in email_sends_archive \(ids {restored}\)"):
        run_archive(db, run_id="run-2")
    assert restored in rows(db, "email_sends") and restored in rows(db, "email_sends_archive")
    assert archive_run_ids(db, "email_sends_archive") == {"run-1": 23}


def test_archive_tables_created_concurrently(leads_db, db):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            with psycopg.connect(leads_db, autocommit=True) as conn:
                barrier.wait(10)
                ensure_archive_tables(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    columns = [
        r[0]
        for r in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'email_events_archive'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).fetchall()
    ]
    assert columns == [
        "id",
        "email_send_id",
        "event_type",
        "event_timestamp",
        "event_hash",
        "payload",
        "created_at",
        "archived_at",
        "archive_run_id",
    ]
    # Not an identity column: archived ids are the live ids, never generated.
    assert (
        db.execute(
            "SELECT attidentity FROM pg_attribute"
            " WHERE attrelid = 'email_sends_archive'::regclass AND attname = 'id'"
        ).fetchone()[0]
        == ""
    )
    pk = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'email_sends_archive'::regclass AND contype = 'p'"
    ).fetchone()[0]
    assert pk == "PRIMARY KEY (id)"


def test_archive_stops_when_the_live_table_changed_shape(db, seeded_sends):
    ensure_archive_tables(db)
    db.execute("ALTER TABLE email_sends ADD COLUMN template_version text")
    with pytest.raises(ArchiveSchemaError, match="email_sends_archive no longer lines up with email_sends"):
        run_archive(db, run_id="run-1")
    assert db.execute("SELECT COUNT(*) FROM email_sends_archive").fetchone()[0] == 0


def test_lock_keys_are_distinct_and_positive():
    assert ARCHIVE_LOCK_KEY != CLEANUP_LOCK_KEY
    assert 0 < ARCHIVE_LOCK_KEY < 2**63 and 0 < CLEANUP_LOCK_KEY < 2**63


def test_archive_scales_to_a_few_thousand_rows(db):
    """Bigger batches over more rows: counts exact, progress percentages rising to 100."""
    seeded = seed_sends(db, old=0, recent=0)
    db.execute(
        """
        INSERT INTO email_sends (organization_id, lead_id, campaign_id, created_at)
        SELECT %(org)s, %(lead)s, %(campaign)s, %(t)s - g * INTERVAL '1 minute'
        FROM generate_series(1, 3000) AS g
        """,
        {"org": seeded.org_id, "lead": seeded.lead_ids[0], "campaign": seeded.campaign_id,
         "t": CUTOFF + timedelta(minutes=1000)},
    )  # fmt: skip
    db.execute(
        "INSERT INTO email_events (email_send_id, event_type, event_timestamp)"
        " SELECT s.id, 'open', %s FROM email_sends AS s, generate_series(1, 3)",
        (NOW,),
    )
    lines: list[str] = []
    result = run_archive(db, run_id="big", batch_size=1000, log=lines.append)
    assert result["sends"]["moved"] == 2000  # g = 1001..3000 are before the cutoff
    assert result["events"]["moved"] == 3 * 2000
    assert result["sends"]["live_after"] == 0 and result["reconciled"] is True
    assert [line.split(" (")[-1] for line in lines if line.startswith("batch ")] == ["50%)", "100%)"]


# --------------------------------------------------------------------------- monthly cleanup


def run_cleanup(conn, *, run_id: str, mode: str = "archive", batch_size: int = 4, log=None, **kwargs) -> dict:
    return cleanup_completed_enrollments(
        conn,
        older_than=ENROLLMENT_CUTOFF,
        batch_size=batch_size,
        run_id=run_id,
        archived_at=NOW,
        mode=mode,
        log=log or (lambda line: None),
        **kwargs,
    )


def test_cleanup_archives_completed_enrollments_with_crash_and_rerun(db, seeded_enrollments):
    before = rows(db, "lead_campaign_enrollments")
    old_sorted = sorted(seeded_enrollments.completed_old_ids)
    assert len(old_sorted) == 17
    lines: list[str] = []
    with pytest.raises(Crash):
        run_cleanup(db, run_id="run-1", log=crash_on_progress_line(3, lines))
    assert sorted(rows(db, "lead_campaign_enrollments_archive")) == old_sorted[:12]

    result = run_cleanup(db, run_id="run-2")
    assert result["enrollments"] == {
        "live_before": 5,
        "live_after": 0,
        "archived_before": 12,
        "archived_after": 17,
        "moved": 5,
    }
    assert result["reconciled"] is True and result["batches"] == 2
    live, archived = rows(db, "lead_campaign_enrollments"), rows(db, "lead_campaign_enrollments_archive")
    assert sorted(archived) == old_sorted
    assert sorted(live) == sorted(seeded_enrollments.other_enrollment_ids)
    assert {**live, **archived} == before and not set(live) & set(archived)
    assert archive_run_ids(db, "lead_campaign_enrollments_archive") == {"run-1": 12, "run-2": 5}
    assert next(line for line in lines if line.startswith("batch ")) == (
        "batch 1: 4 enrollments archived, 4/17 enrollments (23%)"
    )


def test_cleanup_delete_mode_deletes_without_archiving(db, seeded_enrollments):
    result = run_cleanup(db, run_id="run-1", mode="delete", batch_size=5)
    assert result["enrollments"] == {
        "live_before": 17,
        "live_after": 0,
        "archived_before": 0,
        "archived_after": 0,
        "moved": 17,
    }
    assert result["batches"] == 4 and result["reconciled"] is True
    assert sorted(rows(db, "lead_campaign_enrollments")) == sorted(seeded_enrollments.other_enrollment_ids)
    assert db.execute("SELECT TO_REGCLASS('lead_campaign_enrollments_archive')").fetchone()[0] is None


def test_cleanup_dry_run_and_guards(db, seeded_enrollments):
    before = rows(db, "lead_campaign_enrollments")
    result = run_cleanup(db, run_id="dry", dry_run=True)
    assert result["enrollments"]["would_move"] == 17 and result["enrollments"]["moved"] == 0
    with pytest.raises(ValueError, match="less than 90 days before the run"):
        cleanup_completed_enrollments(
            db, older_than=NOW - timedelta(days=30), run_id="r", archived_at=NOW, log=lambda line: None
        )
    with pytest.raises(ValueError, match="mode must be one of archive, delete"):
        run_cleanup(db, run_id="r", mode="truncate")
    assert rows(db, "lead_campaign_enrollments") == before
    assert db.execute("SELECT TO_REGCLASS('lead_campaign_enrollments_archive')").fetchone()[0] is None
    assert completed_enrollments_cutoff(NOW) == ENROLLMENT_CUTOFF


def test_second_concurrent_cleanup_is_refused(leads_db, db, seeded_enrollments):
    # Hold the cleanup lock from another session, as a running cleanup would.
    with psycopg.connect(leads_db, autocommit=True, application_name="other_cleanup") as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (CLEANUP_LOCK_KEY,)).fetchone()[0]
        with pytest.raises(ArchiveLockedError, match="other_cleanup"):
            run_cleanup(db, run_id="second", mode="delete")
        # The annual archive has its own lock and is not blocked by a cleanup.
        assert run_archive(db, run_id="archive")["sends"]["moved"] == 0
        # Released here, not by closing: a closed session's backend lets go of its locks only when
        # it has exited, which under load can be after the next statement of this test.
        assert holder.execute("SELECT pg_advisory_unlock(%s)", (CLEANUP_LOCK_KEY,)).fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM lead_campaign_enrollments").fetchone()[0] == len(
        seeded_enrollments.completed_old_ids
    ) + len(seeded_enrollments.other_enrollment_ids)
    assert run_cleanup(db, run_id="after", mode="delete")["enrollments"]["moved"] == 17


def test_archive_leaves_rows_locked_by_others_for_the_next_run(leads_db, db, seeded_sends):
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    busy = sorted(seeded_sends.old_send_ids)[7]  # in batch 2
    with psycopg.connect(leads_db) as other:  # e.g. the sender updating that send right now
        other.execute("SELECT id FROM email_sends WHERE id = %s FOR UPDATE", (busy,))
        lines: list[str] = []
        result = run_archive(db, run_id="run-1", log=lines.append)
        other.rollback()
    assert result["sends"]["moved"] == 22 and result["sends"]["live_after"] == 1
    assert result["left_locked"] == 1 and result["reconciled"] is True
    assert result["events"]["live_after"] == seeded_sends.events_by_send[busy]
    assert lines[-1] == "1 old sends were locked by other sessions and left live; rerun to archive them"
    assert_consistent(db, seeded_sends, before_sends, before_events)

    again = run_archive(db, run_id="run-2")
    assert again["sends"]["moved"] == 1 and again["left_locked"] == 0
    assert sorted(rows(db, "email_sends_archive")) == sorted(seeded_sends.old_send_ids)
    assert_consistent(db, seeded_sends, before_sends, before_events)


def test_a_batch_whose_insert_count_differs_from_its_delete_count_is_rolled_back(db, seeded_sends):
    """The in-batch check: a trigger that silently swallows archived rows must not cost any data."""
    before_sends, before_events = rows(db, "email_sends"), rows(db, "email_events")
    ensure_archive_tables(db)
    swallowed = sorted(seeded_sends.old_send_ids)[6]  # batch 2
    db.execute(
        f"""
        CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = {swallowed} THEN RETURN NULL; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER swallow BEFORE INSERT ON email_sends_archive FOR EACH ROW EXECUTE FUNCTION swallow();
        """
    )
    with pytest.raises(ReconciliationError, match="batch 2: 5 rows deleted from email_sends but 4 inserted"):
        run_archive(db, run_id="run-1")
    assert sorted(rows(db, "email_sends_archive")) == sorted(seeded_sends.old_send_ids)[:5]
    assert swallowed in rows(db, "email_sends")
    assert_consistent(db, seeded_sends, before_sends, before_events)


@pytest.mark.parametrize(
    ("counts", "allow_arrivals", "problem"),
    [
        ((10, 0, 5, 15, 10), False, None),
        ((10, 1, 5, 15, 10), False, "1 rows appeared"),
        ((10, 1, 5, 16, 10), False, "1 rows appeared"),
        ((10, 0, 5, 14, 10), False, "archived after 14 != archived before 5 + moved 10"),
        ((10, 0, 5, 15, 9), False, "1 rows unaccounted for"),
        ((10, 0, 5, 16, 11), True, None),  # one event arrived and moved with its send
        ((10, 0, 5, 14, 9), True, "1 rows unaccounted for"),  # arrivals never excuse a loss
    ],
)
def test_reconcile(counts, allow_arrivals, problem):
    result, problems = reconcile("t", *counts, allow_arrivals=allow_arrivals)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems
    assert result["moved"] == counts[4]
