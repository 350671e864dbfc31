"""Moving old rows out of the live tables in batches: what the annual archive
(annual_archive/archive.py) and the monthly cleanup of completed enrollments
(monthly_maintenance/cleanup.py) share: the guards and batches below, and the run around them
(`MoveSpec` says what sets a move apart, `BatchedMove` runs it: checks, dry run, lock, batches,
reconciled result).

How a move stays safe:
- Batches. Each batch is one short transaction: lock a batch of ids (ORDER BY id LIMIT n FOR
  UPDATE SKIP LOCKED), `DELETE ... RETURNING *` them into `INSERT INTO <archive>`, and compare the
  deleted and inserted counts; any difference raises and rolls the batch back. A crash therefore
  leaves whole batches moved and the rest live; a rerun simply continues with what is still live.
- Bounded batches (`BatchLimits`, `run_batch`). The first statement of every batch sets, for that
  transaction only (SET LOCAL): lock_timeout 5 s (the move never queues behind the sender for
  long; a batch that times out is rolled back and tried again, 3 attempts, then the run stops
  with ArchiveLockTimeoutError), statement_timeout 60 s per statement, and
  idle_in_transaction_session_timeout 60 s (a worker that stalls inside a batch has its session
  ended by PostgreSQL, which rolls the batch back and frees its locks). So whoever waits on a
  batch's row locks waits at most for one batch.
- No silent duplicates. The archives have a primary key on id and no ON CONFLICT: a row that is
  both live and archived stops the run with the ids, rather than being skipped.
- Reconciliation. Totals are counted before and after: live_before = live_after + moved and
  archived_after = archived_before + moved, else ReconciliationError.
- One run at a time. A session-level advisory lock (pg_try_advisory_lock) refuses a second run;
  PostgreSQL releases it when the session ends, so a crashed run never leaves it behind. That
  needs a real session: through a transaction-mode pooler (PgBouncer pool_mode=transaction,
  Supabase's Supavisor on port 6543) each transaction may run on another server session, so the
  lock would be taken on one and checked, or released, on another (and stay behind in the pool).
  `run_lock` therefore refuses port 6543, checks in pg_locks that the session which took the lock
  holds it, and every batch checks that it still runs on that session (ArchiveSessionError).
- Guard rails. The archive refuses a cutoff less than 365 days before the run, the cleanup a
  cutoff less than 90 days before it, before anything is written. "Before the run" means before
  the earlier of the run's date and today (`check_age`): a run dated in the future
  (`airflow dags test nurture_annual_archive 2100-01-02`) must not move, or delete, current data.
- dry_run is True or False, nothing else (`check_dry_run`): 0, "" or None are refused rather than
  read as "not a dry run".

The functions take a psycopg connection with no open transaction; they commit batch by batch
(switching it to autocommit for the duration) and put it back as they found it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import errors
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


class ArchiveLockTimeoutError(ArchiveError):
    """A batch could not get its locks within lock_timeout on every attempt."""


class ArchiveSessionError(ArchiveError):
    """The connection is not one server session (a transaction-mode pooler): the run lock cannot hold."""


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


def check_dry_run(value: Any) -> bool:
    """dry_run must be exactly True or False: 0, "", None, "false" or 1 are refused, never read as
    "not a dry run" (a real, destructive run) or as "a dry run"."""
    if not isinstance(value, bool):
        raise ValueError(
            f"dry_run must be true or false, got {type(value).__name__} {value!r}. Only a boolean is "
            "accepted (not 0, 1, an empty string, null or a string), so that a real run is never started "
            "by accident."
        )
    return value


# How far ahead of the wall clock a run's date may be before the age guards measure from the clock
# instead: a scheduled run's logical date is its start, and the worker's clock may lag the
# scheduler's by a little. Ten minutes cannot make data months younger than the policy eligible.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)


def wall_clock() -> datetime:
    """Now, by this machine's clock (UTC).

    Everything else in the package measures time from the run, never from the clock (see
    core.windows). The age guards of destructive moves are the deliberate exception: a run's
    logical date can be anything (`airflow dags test DAG 2100-01-02`, a dag.test() with a future
    date, a cutoff computed from one), and "older than a year" measured from such a date includes
    the data written today. A guard that protects data from deletion therefore also checks the
    real clock.
    """
    return datetime.now(UTC)


def clock_today() -> date:
    """Today's UTC date by the wall clock (with CLOCK_SKEW_TOLERANCE), for the date-level guards."""
    return (wall_clock() + CLOCK_SKEW_TOLERANCE).date()


def database_clock(conn: psycopg.Connection) -> datetime:
    """Now by the database server's clock: the clock that stamps created_at when the application
    leaves it to the default. Read by the age guards too, so a worker whose own clock runs ahead
    does not widen them."""
    return db.fetch_one(conn, "archive/select_database_clock.sql", {})["database_now"]


def _minute(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_age(
    name: str,
    bound: datetime,
    archived_at: datetime,
    min_days: int,
    *,
    now: datetime | None = None,
    clock: str = "the wall clock",
) -> None:
    """Refuse to move rows newer than `min_days` before the run, the run's instant being the
    earlier of `archived_at` (the run's date) and `now` (the real clock, see `wall_clock`)."""
    require_aware(name, bound)
    latest = archived_at - timedelta(days=min_days)
    if bound > latest:
        raise ValueError(
            f"{name} {bound.isoformat()} is less than {min_days} days before the run "
            f"({archived_at.isoformat()}); refusing to move recent data. Use {latest.isoformat()} or earlier."
        )
    now = wall_clock() if now is None else now
    require_aware("now", now)
    latest_now = now + CLOCK_SKEW_TOLERANCE - timedelta(days=min_days)
    if bound > latest_now:
        raise ValueError(
            f"{name} {bound.isoformat()} is less than {min_days} days before today ({_minute(now)} by "
            f"{clock}), although the run's date is {_minute(archived_at)}: the run is dated in the future, "
            f"and ages are measured from the earlier of the run's date and today. Refusing to move recent "
            f"data; nothing was changed. Use {latest_now.isoformat(timespec='seconds')} or earlier, or run "
            "with today's date or an earlier one."
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


# Supabase's Supavisor pooler in transaction mode listens on 6543 (session mode on 5432).
TRANSACTION_POOLER_PORT = 6543


@dataclass(frozen=True)
class SessionLock:
    """The run lock, held by server session `backend_pid`."""

    key: int
    backend_pid: int


def _key_parts(key: int) -> dict[str, int]:
    # A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
    return {"key_high": key >> 32, "key_low": key & 0xFFFFFFFF}


_SESSION_FIX = (
    "A session-level advisory lock (one run at a time) needs one server session for the whole run: "
    "connect to the database directly, or through a session-mode pooler (Supabase: port 5432 of the "
    "pooler, or the direct connection), for example with a connection of its own for the archive, then "
    "rerun."
)


def refuse_transaction_pooler(conn: psycopg.Connection, what: str) -> None:
    """Refuse a connection to port 6543, Supabase's transaction-mode pooler, before taking the lock."""
    if conn.info.port == TRANSACTION_POOLER_PORT:
        raise ArchiveSessionError(
            f"The {what} needs a session-mode connection, but this one goes to port "
            f"{TRANSACTION_POOLER_PORT} on {conn.info.host}: Supabase's transaction-mode pooler "
            "(Supavisor), which hands each transaction to any server session. The run's lock would be "
            "taken on one server session and released on another, and stay behind in the pool. "
            f"{_SESSION_FIX} Nothing was changed."
        )


def verify_session_lock(conn: psycopg.Connection, key: int, acquired_pid: int, what: str) -> None:
    """Check, on this connection, that the server session which took the lock (`acquired_pid`) is
    the one this connection talks to and that it holds the lock; else ArchiveSessionError."""
    row = db.fetch_one(conn, "archive/select_session_advisory_lock.sql", _key_parts(key))
    if row["backend_pid"] == acquired_pid and row["held"]:
        return
    if row["backend_pid"] != acquired_pid:
        how = (
            f"the lock was taken by server session pid {acquired_pid}, but the next statement on this "
            f"connection ran on pid {row['backend_pid']}"
            + (", which does not hold it" if not row["held"] else "")
        )
    else:
        how = f"server session pid {acquired_pid} took the lock but pg_locks shows it does not hold it"
    raise ArchiveSessionError(
        f"The {what} cannot hold its run lock: {how}. The connection goes through a transaction-mode "
        "pooler (PgBouncer pool_mode=transaction, Supabase Supavisor on port 6543), which hands each "
        f"transaction to any server session. {_SESSION_FIX} Nothing was moved. If pid {acquired_pid} "
        "still holds the lock (SELECT pid FROM pg_locks WHERE locktype = 'advisory'), end it with "
        f"pg_terminate_backend({acquired_pid})."
    )


@contextmanager
def run_lock(conn: psycopg.Connection, key: int, what: str) -> Iterator[SessionLock]:
    """One run at a time: a session-level advisory lock, verified to be held by this session."""
    refuse_transaction_pooler(conn, what)
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
    lock = SessionLock(key, row["backend_pid"])
    try:
        verify_session_lock(conn, key, lock.backend_pid, what)
        yield lock
    finally:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            # If this fails the lock still goes with the session.
            with suppress(psycopg.Error):
                db.fetch_one(conn, "archive/release_archive_lock.sql", {"lock_key": key})


T = TypeVar("T")


# Bounds of one batch's transaction (see the module docstring).
LOCK_TIMEOUT_MS = 5_000


BATCH_STATEMENT_TIMEOUT_MS = 60_000


BATCH_IDLE_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class BatchLimits:
    """How long one batch may wait and run; a lock timeout rolls the batch back and retries it."""

    lock_timeout_ms: int = LOCK_TIMEOUT_MS
    statement_timeout_ms: int = BATCH_STATEMENT_TIMEOUT_MS
    idle_timeout_ms: int = BATCH_IDLE_TIMEOUT_MS
    attempts: int = 3
    retry_delay_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("lock_timeout_ms", "statement_timeout_ms", "idle_timeout_ms", "attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        if self.retry_delay_s < 0:
            raise ValueError(f"retry_delay_s must be >= 0, got {self.retry_delay_s!r}.")


def run_batch(
    conn: psycopg.Connection,
    batch_no: int,
    move: Callable[[], T],
    *,
    limits: BatchLimits,
    session: SessionLock,
    what: str,
    log: Callable[[str], Any],
) -> tuple[T, int]:
    """Run `move` as one batch transaction with the batch's bounds; returns (its result, retries).

    A lock timeout rolls the batch back and tries it again after retry_delay_s, 2 x retry_delay_s,
    ...; after `limits.attempts` the run stops with ArchiveLockTimeoutError. Batches committed
    before stay moved. Other database errors roll the batch back and propagate.
    """
    for attempt in range(1, limits.attempts + 1):
        try:
            with conn.transaction():
                row = db.fetch_one(
                    conn,
                    "archive/set_batch_timeouts.sql",
                    {
                        "lock_timeout": f"{limits.lock_timeout_ms}ms",
                        "statement_timeout": f"{limits.statement_timeout_ms}ms",
                        "idle_timeout": f"{limits.idle_timeout_ms}ms",
                    },
                )
                if row["backend_pid"] != session.backend_pid:
                    raise ArchiveSessionError(
                        f"batch {batch_no} of the {what} runs on server session pid {row['backend_pid']}, "
                        f"but the run's lock is held by pid {session.backend_pid}: the connection goes "
                        "through a transaction-mode pooler (PgBouncer pool_mode=transaction, Supabase "
                        f"Supavisor on port 6543). {_SESSION_FIX} The batch was rolled back; batches "
                        "before it stay moved."
                    )
                return move(), attempt - 1
        except errors.LockNotAvailable as exc:
            waited = f"{limits.lock_timeout_ms / 1000:g} s"
            if attempt == limits.attempts:
                raise ArchiveLockTimeoutError(
                    f"batch {batch_no} of the {what} could not get its locks within {waited} on "
                    f"{limits.attempts} attempts ({exc.diag.message_primary or exc}): another session "
                    "holds a conflicting lock (a long transaction, a DDL statement, a manual LOCK TABLE; "
                    "see pg_locks / pg_stat_activity). The batch was rolled back; batches before it stay "
                    "moved. Rerun when the database is quieter: the run continues with what is still live."
                ) from exc
            delay = limits.retry_delay_s * attempt
            log(
                f"lock timeout in batch {batch_no}: waited more than {waited} for a lock "
                f"({exc.diag.message_primary or exc}); rolled back, trying again in {delay:g} s "
                f"(attempt {attempt + 1} of {limits.attempts})"
            )
            time.sleep(delay)
        except errors.QueryCanceled as exc:
            raise ArchiveError(
                f"batch {batch_no} of the {what}: a statement was cancelled ({exc.diag.message_primary or exc}), "
                f"after running longer than {limits.statement_timeout_ms / 1000:g} s or by an operator. "
                "The batch was rolled back; batches before it stay moved. Rerun with a smaller batch_size."
            ) from exc
        except errors.IdleInTransactionSessionTimeout as exc:
            raise ArchiveError(
                f"batch {batch_no} of the {what}: the worker stalled inside the batch for more than "
                f"{limits.idle_timeout_ms / 1000:g} s, so PostgreSQL ended the session; the batch was rolled "
                "back and its locks freed; batches before it stay moved. Rerun: it continues with what is "
                "still live."
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


# The role the analytics rollup reads the archive as (include/sql/roles/): granted SELECT on the
# archive tables by whoever creates them, so the first archive run does not lock the rollup out.
WRITER_ROLE = "nurture_ops_writer"


def ensure_archive_tables(conn: psycopg.Connection, tables: Iterable[str] = tuple(LIVE_TO_ARCHIVE)) -> None:
    """Create the three archive tables and their indexes if missing (safe to run concurrently),
    then check that the archives of `tables` (live names) still line up with them."""
    with batch_autocommit(conn):
        # No DDL when everything exists: CREATE ... IF NOT EXISTS still needs table ownership,
        # which the maintenance role may lack (see include/sql/roles/050_transfer_table_ownership.sql).
        if db.fetch_one(conn, "archive/count_missing_archive_objects.sql", {})["missing_objects"]:
            with conn.transaction():
                db.execute(conn, "archive/create_archive_tables.sql", {}, writer_role=WRITER_ROLE)
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


@dataclass(frozen=True)
class MoveSpec:
    """What sets one batched move apart (the annual archive, the monthly cleanup): the name of its
    bound (as its result and its SQL parameters spell it), the minimum age of what it moves, what
    its messages call it, the word before "did not reconcile", and its run lock's key."""

    bound: str
    min_days: int
    what: str
    label: str
    lock_key: int

    def start(
        self,
        bound: datetime,
        batch_size: int,
        run_id: str,
        archived_at: datetime,
        dry_run: bool,
        limits: BatchLimits | None,
        log: Callable[[str], Any],
        **extra: Any,
    ) -> BatchedMove:
        """A run, its arguments checked before anything is read; `extra` goes into the result after
        the bound."""
        check_run_args(batch_size, run_id, archived_at)
        check_dry_run(dry_run)
        check_age(self.bound, bound, archived_at, self.min_days)
        return BatchedMove(
            spec=self,
            limits=BatchLimits() if limits is None else limits,
            log=log,
            params={
                self.bound: bound,
                "archived_at": archived_at,
                "run_id": run_id,
                "batch_size": batch_size,
            },
            result={
                self.bound: bound.isoformat(),
                **extra,
                "run_id": run_id,
                "archived_at": archived_at.isoformat(),
                "dry_run": dry_run,
                "batch_size": batch_size,
                "batches": 0,
                "lock_retries": 0,
            },
            started=time.monotonic(),
        )


@dataclass
class BatchedMove:
    """One run of a batched move (`MoveSpec.start`): the steps the archive and the cleanup share.

    `check_database_clock` checks the age against the database's clock, `dry_run_result` fills a
    dry run's result, `locked` takes the run lock (refusing a transaction pooler and creating the
    archive tables first), `batches` runs the batches one by one and `finish` completes the result
    (the task's XCom) once the totals are reconciled.
    """

    spec: MoveSpec
    limits: BatchLimits
    log: Callable[[str], Any]
    params: dict[str, Any]
    result: dict[str, Any]
    started: float

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def check_database_clock(self, conn: psycopg.Connection) -> None:
        check_age(
            self.spec.bound,
            self.params[self.spec.bound],
            self.params["archived_at"],
            self.spec.min_days,
            now=database_clock(conn),
            clock="the database's clock",
        )

    def dry_run_result(self, **counts: tuple[int, int]) -> dict[str, Any]:
        """A dry run's result: for each table, (live, archived) rows, nothing moved."""
        for key, (live, archived) in counts.items():
            self.result[key] = {
                "live_before": live,
                "live_after": live,
                "archived_before": archived,
                "archived_after": archived,
                "moved": 0,
                "would_move": live,
            }
        self.result.update(reconciled=None, left_locked=0, seconds=self.seconds())
        return self.result

    @contextmanager
    def locked(self, conn: psycopg.Connection, tables: Iterable[str]) -> Iterator[SessionLock]:
        """The run lock, taken once the archive tables of `tables` (live names; none: no archive
        tables created) exist; a transaction pooler is refused before anything is created."""
        refuse_transaction_pooler(conn, self.spec.what)
        if tables:
            ensure_archive_tables(conn, tables)
        with run_lock(conn, self.spec.lock_key, self.spec.what) as session:
            yield session

    def batches(
        self,
        conn: psycopg.Connection,
        session: SessionLock,
        select_sql: str,
        move: Callable[[int, list[int]], T],
        *,
        duplicate: str,
        fix: str,
    ) -> Iterator[tuple[int, T]]:
        """Batch after batch, the ids `select_sql` locks (after the last batch's) moved by
        `move(batch_no, ids)`, each in its own bounded transaction (`run_batch`); yields
        (batch_no, what `move` returned) once the batch is committed, until no id is left.
        A row already archived stops the run: `duplicate` says what, `fix` what to do."""
        batch_no = after_id = 0
        while True:
            batch_no += 1

            def attempt(batch_no: int = batch_no, after_id: int = after_id) -> tuple[list[int], T] | None:
                ids = [r["id"] for r in db.fetch_all(conn, select_sql, {**self.params, "after_id": after_id})]
                return (ids, move(batch_no, ids)) if ids else None

            try:
                outcome, retries = run_batch(
                    conn,
                    batch_no,
                    attempt,
                    limits=self.limits,
                    session=session,
                    what=self.spec.what,
                    log=self.log,
                )
            except errors.UniqueViolation as exc:
                raise ArchiveError(
                    f"batch {batch_no}: {duplicate} ({exc.diag.message_detail or exc}); "
                    f"the batch was rolled back. {fix}"
                ) from exc
            self.result["lock_retries"] += retries
            if outcome is None:
                return
            ids, moved = outcome
            after_id = ids[-1]
            self.result["batches"] = batch_no
            yield batch_no, moved

    def finish(self, left_locked: int, problems: list[str]) -> dict[str, Any]:
        """The result once reconciled; ReconciliationError if it did not reconcile."""
        self.result["left_locked"] = left_locked
        self.result["seconds"] = self.seconds()
        if problems:
            raise ReconciliationError(
                f"{self.spec.label} did not reconcile: " + "; ".join(problems) + f" ({self.result})"
            )
        self.result["reconciled"] = True
        return self.result


# The session's statement timeout on an archive connection: long enough for the counts over a year
# of sends before and after the move (each batch sets its own, BATCH_STATEMENT_TIMEOUT_MS).
ARCHIVE_STATEMENT_TIMEOUT_MS = 3_600_000


# Rows per batch of the monthly cleanup (enrollments: one table, nothing references them).
DEFAULT_BATCH_SIZE = 5_000
