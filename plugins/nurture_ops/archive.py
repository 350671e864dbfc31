"""Moving old rows out of the live tables (runbook section 7, "Maintenance Schedule").

- Annually, "Archive old data (> 1 year)": `archive_sends_and_events` moves email_sends created
  before the cutoff, with every event of those sends, into email_sends_archive and
  email_events_archive.
- Monthly, "Clean up completed enrollments > 90 days": `cleanup_completed_enrollments` moves
  (or deletes) completed enrollments into lead_campaign_enrollments_archive.

How a move stays safe:
- Batches. Each batch is one transaction: lock a batch of ids (ORDER BY id LIMIT n FOR UPDATE SKIP
  LOCKED), `DELETE ... RETURNING *` them into `INSERT INTO <archive>`, and compare the deleted and
  inserted counts; any difference raises and rolls the batch back. A crash therefore leaves whole
  batches moved and the rest live; a rerun simply continues with what is still live.
- No silent duplicates. The archives have a primary key on id and no ON CONFLICT: a row that is
  both live and archived stops the run with the ids, rather than being skipped.
- Reconciliation. Totals are counted before and after: live_before = live_after + moved and
  archived_after = archived_before + moved, else ReconciliationError.
- One run at a time. A session-level advisory lock (pg_try_advisory_lock) refuses a second run;
  PostgreSQL releases it when the session ends, so a crashed run never leaves it behind.
- Guard rails. The archive refuses a cutoff less than 365 days before the run, the cleanup a
  cutoff less than 90 days before it, before anything is written.

The functions take a psycopg connection with no open transaction; they commit batch by batch
(switching it to autocommit for the duration) and put it back as they found it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus

from nurture_ops import db

MIN_ARCHIVE_AGE_DAYS = 365
MIN_CLEANUP_AGE_DAYS = 90
MAX_BATCH_SIZE = 100_000
CLEANUP_MODES = ("archive", "delete")

LIVE_TO_ARCHIVE = {
    "email_sends": "email_sends_archive",
    "email_events": "email_events_archive",
    "lead_campaign_enrollments": "lead_campaign_enrollments_archive",
}
# The two columns every archive adds after the live ones, as FORMAT_TYPE spells their types.
ARCHIVE_EXTRA_COLUMNS = [("archived_at", "timestamp with time zone"), ("archive_run_id", "text")]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ArchiveError(RuntimeError):
    """An archive or cleanup run stopped; whole batches moved before it stay moved."""


class ArchiveLockedError(ArchiveError):
    """Another run holds the lock."""


class ArchiveSchemaError(ArchiveError):
    """An archive table no longer lines up with its live table."""


class ReconciliationError(ArchiveError):
    """Counts do not add up: deleted != inserted in a batch, or totals before/after."""


def _lock_key(name: str) -> int:
    """A stable, positive bigint advisory-lock key derived from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 2


ARCHIVE_LOCK_KEY = _lock_key("nurture_ops.archive_sends_and_events")
CLEANUP_LOCK_KEY = _lock_key("nurture_ops.cleanup_completed_enrollments")


# --------------------------------------------------------------------------- parameters


def _one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def parse_cutoff(params: dict | None, *, run_date: date) -> date:
    """The archive cutoff: params["cutoff_date"] (YYYY-MM-DD), or run_date minus one year.

    Raises ValueError for a malformed date, a cutoff after the run date, or one less than 365 days
    before it (archiving recent data is the case to refuse).
    """
    if isinstance(run_date, datetime):
        run_date = run_date.date()
    default = _one_year_before(run_date)
    raw = (params or {}).get("cutoff_date")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        cutoff = default
    elif isinstance(raw, datetime):
        raise ValueError(
            f"cutoff_date must be a date (YYYY-MM-DD), not a date and time: got {raw.isoformat()!r}."
        )
    elif isinstance(raw, date):
        cutoff = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(
                f"cutoff_date {raw!r} is not a date in the form YYYY-MM-DD (e.g. {default.isoformat()}). "
                "Leave it empty to archive data older than one year."
            )
        try:
            cutoff = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"cutoff_date {raw!r} is not a valid calendar date ({exc}).") from None
    else:
        raise ValueError(f"cutoff_date must be a string YYYY-MM-DD, got {type(raw).__name__}: {raw!r}.")

    latest = run_date - timedelta(days=MIN_ARCHIVE_AGE_DAYS)
    if cutoff > run_date:
        raise ValueError(
            f"cutoff_date {cutoff.isoformat()} is after the run date {run_date.isoformat()}: that would "
            f"archive current data. Use a date on or before {latest.isoformat()}, or leave cutoff_date "
            f"empty for the default ({default.isoformat()})."
        )
    if cutoff > latest:
        raise ValueError(
            f"cutoff_date {cutoff.isoformat()} is only {(run_date - cutoff).days} days before the run date "
            f"{run_date.isoformat()}; the archive moves data older than one year, so the cutoff must be "
            f"on or before {latest.isoformat()}. Leave cutoff_date empty for the default "
            f"({default.isoformat()})."
        )
    return cutoff


def cutoff_datetime(day: date) -> datetime:
    """Midnight UTC at the start of `day`: the half-open bound `created_at < cutoff_datetime(day)`."""
    return datetime.combine(day, dt_time.min, tzinfo=UTC)


def completed_enrollments_cutoff(run_time: datetime) -> datetime:
    """The monthly cleanup's bound: enrollments completed more than 90 days before the run."""
    _require_aware("run_time", run_time)
    return run_time - timedelta(days=MIN_CLEANUP_AGE_DAYS)


def _require_aware(name: str, value: Any) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {type(value).__name__}: {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} {value.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. cutoff_datetime(date) for midnight UTC)."
        )


def _check_common(batch_size: int, run_id: str, archived_at: datetime) -> None:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise ValueError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE:,}, got {batch_size!r}.")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ValueError("run_id must be a non-empty string (e.g. the Airflow run_id).")
    _require_aware("archived_at", archived_at)


def _check_age(name: str, bound: datetime, archived_at: datetime, min_days: int) -> None:
    _require_aware(name, bound)
    latest = archived_at - timedelta(days=min_days)
    if bound > latest:
        raise ValueError(
            f"{name} {bound.isoformat()} is less than {min_days} days before the run "
            f"({archived_at.isoformat()}); refusing to move recent data. Use {latest.isoformat()} or earlier."
        )


# --------------------------------------------------------------------------- connection helpers


@contextmanager
def _autocommit(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Autocommit for the duration (each batch is its own explicit transaction), then restored."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ArchiveError(
            "The connection has an open transaction; the archive commits batch by batch and must start "
            "from a clean connection. Commit or roll back first."
        )
    previous = conn.autocommit
    conn.autocommit = True
    try:
        yield conn
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = previous


@contextmanager
def _run_lock(conn: psycopg.Connection, key: int, what: str) -> Iterator[None]:
    row = db.fetch_one(conn, "archive/acquire_archive_lock.sql", {"lock_key": key})
    if not row or not row["acquired"]:
        holders = [
            h
            for h in db.fetch_all(conn, "archive/select_advisory_lock_holders.sql", {})
            if h["key_high"] == key >> 32 and h["key_low"] == key & 0xFFFFFFFF
        ]
        who = (
            ", ".join(
                f"pid {h['pid']} (application {h['application_name'] or '?'}, connected "
                f"{h['backend_start'].isoformat(sep=' ', timespec='seconds') if h['backend_start'] else '?'}, "
                f"{h['state'] or '?'})"
                for h in holders
            )
            or "a session that just ended"
        )
        raise ArchiveLockedError(
            f"Another {what} is running (lock held by {who}). Only one may run at a time: let it finish "
            "and rerun this one (it continues where the other stopped). If that session is stuck, end it "
            "with pg_terminate_backend(pid); its open batch rolls back and the lock is released."
        )
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            # If this fails the lock still goes with the session.
            with suppress(psycopg.Error):
                db.fetch_one(conn, "archive/release_archive_lock.sql", {"lock_key": key})


# --------------------------------------------------------------------------- archive tables


def ensure_archive_tables(conn: psycopg.Connection, tables: Iterable[str] = tuple(LIVE_TO_ARCHIVE)) -> None:
    """Create the three archive tables and their indexes if missing (safe to run concurrently),
    then check that the archives of `tables` (live names) still line up with them."""
    with _autocommit(conn):
        with conn.transaction():
            db.execute(conn, "archive/create_archive_tables.sql", {})
        for live in tables:
            verify_archive_columns(conn, live, LIVE_TO_ARCHIVE[live])


def verify_archive_columns(conn: psycopg.Connection, live: str, archive: str) -> None:
    """Raise ArchiveSchemaError unless `archive` = `live`'s columns, same order and types, then
    archived_at and archive_run_id (what `INSERT INTO archive SELECT moved.*, ...` relies on)."""
    rows = db.fetch_all(
        conn,
        "archive/select_archive_column_mismatches.sql",
        {"live_table": live, "archive_table": archive},
    )
    extra = [(r["archive_column"], r["archive_type"]) for r in rows if r["live_column"] is None]
    others = [r for r in rows if r["live_column"] is not None]
    if others or extra != ARCHIVE_EXTRA_COLUMNS:
        details = "; ".join(
            f"column {r['position']}: live {r['live_column'] or '-'} {r['live_type'] or ''} vs archive "
            f"{r['archive_column'] or '-'} {r['archive_type'] or ''}".replace("  ", " ")
            for r in rows
        )
        raise ArchiveSchemaError(
            f"{archive} no longer lines up with {live} ({details}). The live table has changed; "
            f"give {archive} the same columns in the same order followed by archived_at and "
            "archive_run_id (a new live column must be added to the archive before archived_at, i.e. "
            "rebuild the archive table), then rerun."
        )


def _archive_tables_exist(conn: psycopg.Connection) -> dict[str, bool]:
    row = db.fetch_one(conn, "archive/select_archive_tables.sql", {})
    return dict(row) if row else {}


def _refuse_double_copies(conn: psycopg.Connection, sql_file: str, params: dict, table: str) -> None:
    rows = db.fetch_all(conn, sql_file, params)
    if rows:
        ids = ", ".join(str(r["id"]) for r in rows) + (", ..." if len(rows) >= 20 else "")
        raise ArchiveError(
            f"Some rows to archive are already in {table}_archive (ids {ids}): "
            "they exist both live and archived, perhaps restored by hand. Nothing was moved. Compare the two "
            "copies, delete the one that is wrong, then rerun."
        )


def _check_batch(batch_no: int, table: str, counts: dict, *, expected: int | None, archived: bool) -> None:
    deleted, inserted = counts["deleted"], counts["inserted"]
    if archived and deleted != inserted:
        raise ReconciliationError(
            f"batch {batch_no}: {deleted:,} rows deleted from {table} but {inserted:,} inserted into "
            f"{table}_archive; the batch was rolled back, nothing of it moved."
        )
    if expected is not None and deleted != expected:
        raise ReconciliationError(
            f"batch {batch_no}: {expected:,} {table} rows were locked for the batch but {deleted:,} deleted; "
            "the batch was rolled back, nothing of it moved."
        )


def _reconcile(
    name: str,
    live_before: int,
    live_after: int,
    archived_before: int,
    archived_after: int,
    moved: int,
    *,
    archived: bool = True,
    allow_arrivals: bool = False,
) -> tuple[dict, list[str]]:
    arrived = live_after + moved - live_before
    problems = []
    if arrived < 0 or (arrived > 0 and not allow_arrivals):
        problems.append(
            f"{name}: live before {live_before:,} != live after {live_after:,} + moved {moved:,}"
            + (f" ({-arrived:,} rows unaccounted for)" if arrived < 0 else f" ({arrived:,} rows appeared)")
        )
    expected_archived = archived_before + (moved if archived else 0)
    if archived_after != expected_archived:
        problems.append(
            f"{name}: archived after {archived_after:,} != archived before {archived_before:,}"
            + (f" + moved {moved:,}" if archived else " (nothing should have been archived)")
        )
    counts = {
        "live_before": live_before,
        "live_after": live_after,
        "archived_before": archived_before,
        "archived_after": archived_after,
        "moved": moved,
    }
    if allow_arrivals:
        counts["arrived_during_run"] = max(arrived, 0)
    return counts, problems


def _percent(done: int, total: int) -> int:
    return 100 if total <= 0 else min(100, done * 100 // total)


# --------------------------------------------------------------------------- annual archive


def _count_sends_and_events(conn: psycopg.Connection, cutoff: datetime, *, archived: bool) -> tuple[int, int]:
    if archived and not all(
        _archive_tables_exist(conn)[t] for t in ("email_sends_archive", "email_events_archive")
    ):
        return 0, 0
    sql_file = (
        "archive/count_archived_sends_and_events.sql"
        if archived
        else "archive/count_old_sends_and_events.sql"
    )
    row = db.fetch_one(conn, sql_file, {"cutoff": cutoff})
    return int(row["sends"]), int(row["events"])


def archive_sends_and_events(
    conn: psycopg.Connection,
    *,
    cutoff: datetime,
    batch_size: int = 5000,
    run_id: str,
    archived_at: datetime,
    dry_run: bool = False,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Archive old data (> 1 year)": move sends created before `cutoff`, and all their
    events, into the archive tables, batch by batch; returns counts before/after and reconciles them.

    dry_run counts what would move and changes nothing (not even the archive tables' creation).
    """
    _check_common(batch_size, run_id, archived_at)
    _check_age("cutoff", cutoff, archived_at, MIN_ARCHIVE_AGE_DAYS)
    started = time.monotonic()
    params = {"cutoff": cutoff, "archived_at": archived_at, "run_id": run_id, "batch_size": batch_size}
    result: dict[str, Any] = {
        "cutoff": cutoff.isoformat(),
        "run_id": run_id,
        "archived_at": archived_at.isoformat(),
        "dry_run": dry_run,
        "batch_size": batch_size,
        "batches": 0,
    }
    with _autocommit(conn):
        if dry_run:
            sends, events = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends, arch_events = _count_sends_and_events(conn, cutoff, archived=True)
            for key, live, arch in (("sends", sends, arch_sends), ("events", events, arch_events)):
                result[key] = {
                    "live_before": live,
                    "live_after": live,
                    "archived_before": arch,
                    "archived_after": arch,
                    "moved": 0,
                    "would_move": live,
                }
            result.update(reconciled=None, left_locked=0, seconds=round(time.monotonic() - started, 3))
            log(
                f"dry run: would archive {sends:,} sends created before {cutoff.isoformat()} and their "
                f"{events:,} events, in about {-(-sends // batch_size):,} batches of {batch_size:,}; "
                "nothing changed"
            )
            return result

        ensure_archive_tables(conn, ("email_sends", "email_events"))
        with _run_lock(conn, ARCHIVE_LOCK_KEY, "archive of old sends and events"):
            _refuse_double_copies(conn, "archive/select_sends_already_archived.sql", params, "email_sends")
            sends_before, events_before = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_before, arch_events_before = _count_sends_and_events(conn, cutoff, archived=True)
            log(
                f"archiving {sends_before:,} sends created before {cutoff.isoformat()} and their "
                f"{events_before:,} events in batches of {batch_size:,} (run {run_id})"
            )
            moved_sends = moved_events = batch_no = after_id = 0
            while True:
                batch_no += 1
                try:
                    with conn.transaction():
                        ids = [
                            r["id"]
                            for r in db.fetch_all(
                                conn, "archive/select_old_sends_batch.sql", {**params, "after_id": after_id}
                            )
                        ]
                        if not ids:
                            break
                        batch = {**params, "send_ids": ids}
                        events = db.fetch_one(conn, "archive/archive_email_events.sql", batch)
                        _check_batch(batch_no, "email_events", events, expected=None, archived=True)
                        sends = db.fetch_one(conn, "archive/archive_email_sends.sql", batch)
                        _check_batch(batch_no, "email_sends", sends, expected=len(ids), archived=True)
                except errors.UniqueViolation as exc:
                    raise ArchiveError(
                        f"batch {batch_no}: a row is already in the archive "
                        f"({exc.diag.message_detail or exc}); "
                        "the batch was rolled back. Rows exist both live and archived: compare the copies, "
                        "delete the wrong one, then rerun."
                    ) from exc
                after_id = ids[-1]
                moved_sends += sends["deleted"]
                moved_events += events["deleted"]
                result["batches"] = batch_no
                log(
                    f"batch {batch_no}: {sends['deleted']:,} sends, {events['deleted']:,} events, "
                    f"{moved_sends:,}/{sends_before:,} sends ({_percent(moved_sends, sends_before)}%)"
                )

            sends_after, events_after = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_after, arch_events_after = _count_sends_and_events(conn, cutoff, archived=True)

    result["sends"], problems = _reconcile(
        "email_sends", sends_before, sends_after, arch_sends_before, arch_sends_after, moved_sends
    )
    # A late webhook event (an open of a year-old email) may land on a send not yet moved; it is
    # then moved with its send. Such arrivals are reported; a shortfall is still a loss.
    result["events"], event_problems = _reconcile(
        "email_events",
        events_before,
        events_after,
        arch_events_before,
        arch_events_after,
        moved_events,
        allow_arrivals=True,
    )
    problems += event_problems
    result["left_locked"] = sends_after
    result["seconds"] = round(time.monotonic() - started, 3)
    if problems:
        raise ReconciliationError("archive did not reconcile: " + "; ".join(problems) + f" ({result})")
    result["reconciled"] = True
    log(
        f"archived {moved_sends:,} sends and {moved_events:,} events in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; reconciled (live {sends_before:,} -> {sends_after:,}, archived "
        f"{arch_sends_before:,} -> {arch_sends_after:,} sends)"
    )
    if sends_after:
        log(f"{sends_after:,} old sends were locked by other sessions and left live; rerun to archive them")
    return result


# --------------------------------------------------------------------------- monthly cleanup


def _count_enrollments(conn: psycopg.Connection, older_than: datetime, *, archived: bool) -> int:
    if archived and not _archive_tables_exist(conn)["lead_campaign_enrollments_archive"]:
        return 0
    sql_file = (
        "archive/count_archived_enrollments.sql" if archived else "archive/count_completed_enrollments.sql"
    )
    return int(db.fetch_one(conn, sql_file, {"older_than": older_than})["enrollments"])


def cleanup_completed_enrollments(
    conn: psycopg.Connection,
    *,
    older_than: datetime,
    batch_size: int = 5000,
    run_id: str,
    archived_at: datetime,
    mode: str = "archive",
    dry_run: bool = False,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Clean up completed enrollments > 90 days": enrollments with status 'completed'
    and completed_at < older_than are moved to lead_campaign_enrollments_archive (mode "archive")
    or deleted (mode "delete"), batch by batch, reconciled (live + archived = before)."""
    if mode not in CLEANUP_MODES:
        raise ValueError(f"mode must be one of {', '.join(CLEANUP_MODES)}, got {mode!r}.")
    _check_common(batch_size, run_id, archived_at)
    _check_age("older_than", older_than, archived_at, MIN_CLEANUP_AGE_DAYS)
    archiving = mode == "archive"
    verb = "archive" if archiving else "delete"
    started = time.monotonic()
    params = {
        "older_than": older_than,
        "archived_at": archived_at,
        "run_id": run_id,
        "batch_size": batch_size,
    }
    result: dict[str, Any] = {
        "older_than": older_than.isoformat(),
        "mode": mode,
        "run_id": run_id,
        "archived_at": archived_at.isoformat(),
        "dry_run": dry_run,
        "batch_size": batch_size,
        "batches": 0,
    }
    with _autocommit(conn):
        if dry_run:
            live = _count_enrollments(conn, older_than, archived=False)
            arch = _count_enrollments(conn, older_than, archived=True)
            result["enrollments"] = {
                "live_before": live,
                "live_after": live,
                "archived_before": arch,
                "archived_after": arch,
                "moved": 0,
                "would_move": live,
            }
            result.update(reconciled=None, left_locked=0, seconds=round(time.monotonic() - started, 3))
            log(
                f"dry run: would {verb} {live:,} enrollments completed before {older_than.isoformat()}; "
                "nothing changed"
            )
            return result

        if archiving:
            ensure_archive_tables(conn, ("lead_campaign_enrollments",))
        with _run_lock(conn, CLEANUP_LOCK_KEY, "cleanup of completed enrollments"):
            if archiving:
                _refuse_double_copies(
                    conn,
                    "archive/select_enrollments_already_archived.sql",
                    params,
                    "lead_campaign_enrollments",
                )
            live_before = _count_enrollments(conn, older_than, archived=False)
            arch_before = _count_enrollments(conn, older_than, archived=True)
            log(
                f"cleanup ({mode}): {live_before:,} enrollments completed before {older_than.isoformat()} "
                f"to {verb} in batches of {batch_size:,} (run {run_id})"
            )
            sql_file = (
                "archive/archive_completed_enrollments.sql"
                if archiving
                else "archive/delete_completed_enrollments.sql"
            )
            moved = batch_no = after_id = 0
            while True:
                batch_no += 1
                try:
                    with conn.transaction():
                        ids = [
                            r["id"]
                            for r in db.fetch_all(
                                conn,
                                "archive/select_completed_enrollments_batch.sql",
                                {**params, "after_id": after_id},
                            )
                        ]
                        if not ids:
                            break
                        counts = db.fetch_one(conn, sql_file, {**params, "enrollment_ids": ids})
                        _check_batch(
                            batch_no,
                            "lead_campaign_enrollments",
                            counts,
                            expected=len(ids),
                            archived=archiving,
                        )
                except errors.UniqueViolation as exc:
                    raise ArchiveError(
                        f"batch {batch_no}: an enrollment is already archived "
                        f"({exc.diag.message_detail or exc}); the batch was rolled back. Compare the live "
                        "and archived copies, delete the wrong one, then rerun."
                    ) from exc
                after_id = ids[-1]
                moved += counts["deleted"]
                result["batches"] = batch_no
                log(
                    f"batch {batch_no}: {counts['deleted']:,} enrollments {verb}d, "
                    f"{moved:,}/{live_before:,} enrollments ({_percent(moved, live_before)}%)"
                )
            live_after = _count_enrollments(conn, older_than, archived=False)
            arch_after = _count_enrollments(conn, older_than, archived=True)

    result["enrollments"], problems = _reconcile(
        "lead_campaign_enrollments",
        live_before,
        live_after,
        arch_before,
        arch_after,
        moved,
        archived=archiving,
    )
    result["left_locked"] = live_after
    result["seconds"] = round(time.monotonic() - started, 3)
    if problems:
        raise ReconciliationError("cleanup did not reconcile: " + "; ".join(problems) + f" ({result})")
    result["reconciled"] = True
    log(
        f"{verb}d {moved:,} completed enrollments in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; "
        f"reconciled (live {live_before:,} -> {live_after:,}, archived {arch_before:,} -> {arch_after:,})"
    )
    if live_after:
        log(f"{live_after:,} enrollments were locked by other sessions and left live; rerun to finish")
    return result
