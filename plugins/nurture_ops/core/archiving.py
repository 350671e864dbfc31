"""Moving old rows out of the live tables in batches: what the annual archive
(annual_archive/archive.py) and the monthly cleanup of completed enrollments
(monthly_maintenance/cleanup.py) share.

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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from nurture_ops.core import db

MAX_BATCH_SIZE = 100_000


LIVE_TO_ARCHIVE = {
    "email_sends": "email_sends_archive",
    "email_events": "email_events_archive",
    "lead_campaign_enrollments": "lead_campaign_enrollments_archive",
}


# The two columns every archive adds after the live ones, as FORMAT_TYPE spells their types.
ARCHIVE_EXTRA_COLUMNS = [("archived_at", "timestamp with time zone"), ("archive_run_id", "text")]


class ArchiveError(RuntimeError):
    """An archive or cleanup run stopped; whole batches moved before it stay moved."""


class ArchiveLockedError(ArchiveError):
    """Another run holds the lock."""


class ArchiveSchemaError(ArchiveError):
    """An archive table no longer lines up with its live table."""


class ReconciliationError(ArchiveError):
    """Counts do not add up: deleted != inserted in a batch, or totals before/after."""


def lock_key(name: str) -> int:
    """A stable, positive bigint advisory-lock key derived from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 2


def require_aware(name: str, value: Any) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {type(value).__name__}: {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} {value.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. cutoff_datetime(date) for midnight UTC)."
        )


def check_run_args(batch_size: int, run_id: str, archived_at: datetime) -> None:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise ValueError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE:,}, got {batch_size!r}.")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ValueError("run_id must be a non-empty string (e.g. the Airflow run_id).")
    require_aware("archived_at", archived_at)


def check_age(name: str, bound: datetime, archived_at: datetime, min_days: int) -> None:
    require_aware(name, bound)
    latest = archived_at - timedelta(days=min_days)
    if bound > latest:
        raise ValueError(
            f"{name} {bound.isoformat()} is less than {min_days} days before the run "
            f"({archived_at.isoformat()}); refusing to move recent data. Use {latest.isoformat()} or earlier."
        )


@contextmanager
def batch_autocommit(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
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
def run_lock(conn: psycopg.Connection, key: int, what: str) -> Iterator[None]:
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


def ensure_archive_tables(conn: psycopg.Connection, tables: Iterable[str] = tuple(LIVE_TO_ARCHIVE)) -> None:
    """Create the three archive tables and their indexes if missing (safe to run concurrently),
    then check that the archives of `tables` (live names) still line up with them."""
    with batch_autocommit(conn):
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


def archive_tables_exist(conn: psycopg.Connection) -> dict[str, bool]:
    row = db.fetch_one(conn, "archive/select_archive_tables.sql", {})
    return dict(row) if row else {}


def refuse_double_copies(conn: psycopg.Connection, sql_file: str, params: dict, table: str) -> None:
    rows = db.fetch_all(conn, sql_file, params)
    if rows:
        ids = ", ".join(str(r["id"]) for r in rows) + (", ..." if len(rows) >= 20 else "")
        raise ArchiveError(
            f"Some rows to archive are already in {table}_archive (ids {ids}): "
            "they exist both live and archived, perhaps restored by hand. Nothing was moved. Compare the two "
            "copies, delete the one that is wrong, then rerun."
        )


def check_batch(batch_no: int, table: str, counts: dict, *, expected: int | None, archived: bool) -> None:
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


def reconcile(
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


def percent(done: int, total: int) -> int:
    return 100 if total <= 0 else min(100, done * 100 // total)


LOCK_TIMEOUT_MS = 5_000


# "A long statement timeout": one archive batch, or a count over a year of sends.
ARCHIVE_STATEMENT_TIMEOUT_MS = 3_600_000


DEFAULT_BATCH_SIZE = 5_000
