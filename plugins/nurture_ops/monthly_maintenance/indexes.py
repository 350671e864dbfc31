"""Runbook "Index Maintenance (Monthly)": rebuild indexes and update statistics, online.

The runbook's `REINDEX TABLE` takes locks that stop every write to the table for the whole
rebuild; here each table is rebuilt with `REINDEX TABLE CONCURRENTLY`, which keeps reads and
writes flowing. It cannot run inside a transaction block, so these functions open their own
autocommit connections from `connect`, which is one of:

- a libpq DSN string, or a mapping of psycopg.connect() keyword arguments;
- a zero-argument callable returning a psycopg connection, or a context manager yielding one,
  e.g. `functools.partial(nurture_ops.db.connect, autocommit=True)` in a task.

Failure handling:
- `lock_timeout` bounds every wait for a lock (including REINDEX CONCURRENTLY's wait for older
  transactions); a table that times out is retried a few times, then reported as failed while the
  other tables go on. Nothing here raises for one table.
- A failed concurrent rebuild leaves INVALID `*_ccnew` indexes behind (still maintained on every
  write, never used by queries). Those created by the failed attempt are dropped right away with
  DROP INDEX CONCURRENTLY; older ones are reported by `find_invalid_indexes` and dropped by
  `drop_invalid_indexes`, which re-checks each index is still invalid and not being built.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import tenacity
from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from nurture_ops.core import db

DEFAULT_TABLES = ("lead_campaign_enrollments", "email_sends", "email_events")
DEFAULT_STATEMENT_TIMEOUT_MS = 3_600_000
# Waiting too long for a lock (lock_timeout) or losing a deadlock: worth another attempt later.
RETRYABLE_ERRORS = (errors.LockNotAvailable, errors.DeadlockDetected)

Connect = str | Mapping[str, Any] | Callable[[], Any]
Log = Callable[[str], Any]


@contextmanager
def maintenance_connection(
    connect: Connect,
    *,
    lock_timeout_ms: int = 5000,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> Iterator[psycopg.Connection]:
    """An autocommit connection with lock_timeout and statement_timeout set for maintenance."""
    if isinstance(connect, str):
        opened = psycopg.connect(connect, autocommit=True)
    elif isinstance(connect, Mapping):
        opened = psycopg.connect(**{**connect, "autocommit": True})
    elif callable(connect):
        opened = connect()
    else:
        raise TypeError(
            f"connect must be a DSN, connection kwargs or a callable, got {type(connect).__name__}"
        )
    with opened as conn:
        if not conn.autocommit:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
            conn.autocommit = True
        db.fetch_one(
            conn,
            "maintenance/set_maintenance_timeouts.sql",
            {
                "lock_timeout": f"{int(lock_timeout_ms)}ms",
                "statement_timeout": f"{int(statement_timeout_ms)}ms",
            },
        )
        yield conn


def _quoted(conn: psycopg.Connection, *names: str) -> str:
    """A quoted, schema-qualified identifier, e.g. "public"."email_sends"."""
    return sql.Identifier(*names).as_string(conn)


def _jinja_identifier(quoted: str) -> str:
    """For the Jinja slot of a statement: the rendered SQL goes through the driver's placeholder
    parser, so a percent sign in a name must be doubled."""
    return quoted.replace("%", "%%")


def _resolve_table(conn: psycopg.Connection, table: str) -> dict | None:
    try:
        return db.fetch_one(conn, "maintenance/select_table.sql", {"table_name": table})
    except (errors.InvalidName, errors.SyntaxError):
        return None


def _table_indexes(conn: psycopg.Connection, regclass: str) -> list[dict]:
    return db.fetch_all(conn, "maintenance/select_table_indexes.sql", {"table_name": regclass})


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _CleanupFailed(Exception):
    """on_failure() raised: not a failed attempt to retry, but an error to pass on as it is."""

    def __init__(self, error: BaseException, statement_error: BaseException):
        super().__init__(str(error))
        self.error = error
        self.statement_error = statement_error


def _with_retries(
    conn: psycopg.Connection,
    statement: Callable[[], Any],
    *,
    what: str,
    attempts: int,
    retry_delay_s: float,
    log: Log,
    on_failure: Callable[[], Any] | None = None,
) -> tuple[bool, int, float | None, str | None]:
    """Run statement() up to `attempts` times while it fails on a lock (RETRYABLE_ERRORS), waiting
    retry_delay_s, 2 x retry_delay_s, ... in between; on_failure() runs after every failed attempt.
    Returns (ok, attempts made, seconds of the attempt that succeeded, error)."""
    if attempts < 1:
        return False, attempts, None, "no attempt made"
    elapsed = 0.0

    def attempt() -> float:
        nonlocal elapsed
        started = time.monotonic()
        try:
            statement()
        except psycopg.Error as exc:
            elapsed = time.monotonic() - started
            if on_failure is not None and not conn.closed:
                try:
                    on_failure()
                except BaseException as cleanup_error:
                    raise _CleanupFailed(cleanup_error, exc) from cleanup_error
            raise
        return round(time.monotonic() - started, 3)

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log(
            f"{what}: {_error_text(exc)} after {elapsed:.1f}s (attempt {state.attempt_number}/{attempts}); "
            f"retrying in {delay:.0f}s"
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, RETRYABLE_ERRORS) and not conn.closed),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_incrementing(start=retry_delay_s, increment=retry_delay_s),
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        seconds = retrying(attempt)
    except _CleanupFailed as failed:
        raise failed.error from failed.statement_error
    except psycopg.Error as exc:
        return False, retrying.statistics["attempt_number"], None, _error_text(exc)
    return True, retrying.statistics["attempt_number"], seconds, None


def _drop_index(
    conn: psycopg.Connection, name: str, *, attempts: int, retry_delay_s: float, log: Log
) -> dict:
    """Drop one index only if it is still INVALID and no index build runs on its table."""
    result = {"index": name, "status": "failed", "attempts": 0, "seconds": None, "error": None}
    try:
        found = db.fetch_one(conn, "maintenance/select_index.sql", {"index_name": name})
    except (errors.InvalidName, errors.SyntaxError) as exc:
        found, result["error"] = None, _error_text(exc)
    if found is None:
        result["status"] = "missing"
        result["error"] = result["error"] or "no such index"
        log(f"drop {name}: no such index, nothing to do")
        return result
    if found["is_valid"]:
        result["status"] = "skipped"
        result["error"] = "index is valid; only INVALID indexes are dropped"
        log(f"drop {name}: the index is valid, not dropping it")
        return result
    if found["build_in_progress"]:
        result["status"] = "skipped"
        result["error"] = "an index build is running on its table; it may still become valid"
        log(f"drop {name}: an index build is running on its table, leaving it for now")
        return result
    qualified = _quoted(conn, found["schema_name"], found["index_name"])

    def drop() -> None:
        db.execute(conn, "maintenance/drop_invalid_index.sql", {}, index=_jinja_identifier(qualified))

    ok, tries, seconds, error = _with_retries(
        conn, drop, what=f"drop {qualified}", attempts=attempts, retry_delay_s=retry_delay_s, log=log
    )
    result.update(status="dropped" if ok else "failed", attempts=tries, seconds=seconds, error=error)
    log(f"drop {qualified}: dropped in {seconds:.1f}s" if ok else f"drop {qualified}: FAILED: {error}")
    return result


def _reindex_table(
    conn: psycopg.Connection, table: str, result: dict, *, attempts: int, retry_delay_s: float, log: Log
) -> None:
    target = _resolve_table(conn, table)
    if target is None:
        result["error"] = "no such table"
        return
    regclass = _quoted(conn, target["schema_name"], target["table_name"])
    before = _table_indexes(conn, regclass)
    invalid_before = {i["index_name"] for i in before if not i["is_valid"]}
    result["indexes"] = sum(1 for i in before if i["is_valid"])
    result["size_before_bytes"] = sum(i["size_bytes"] for i in before if i["is_valid"])
    # e.g. "skipping reindex of invalid index ..." for an index left INVALID earlier.
    conn.add_notice_handler(lambda diag: result["notices"].append(diag.message_primary))

    def reindex() -> None:
        db.execute(conn, "maintenance/reindex_table.sql", {}, table=_jinja_identifier(regclass))

    def drop_leftovers() -> None:
        """Drop what the failed attempt left INVALID (*_ccnew), never an index that was there before."""
        for index in _table_indexes(conn, regclass):
            if index["is_valid"] or index["index_name"] in invalid_before:
                continue
            name = _quoted(conn, index["schema_name"], index["index_name"])
            dropped = _drop_index(conn, name, attempts=attempts, retry_delay_s=retry_delay_s, log=log)
            if dropped["status"] == "dropped":
                result["leftovers_dropped"].append(index["index_name"])

    ok, tries, seconds, error = _with_retries(
        conn,
        reindex,
        what=f"reindex {table}",
        attempts=attempts,
        retry_delay_s=retry_delay_s,
        log=log,
        on_failure=drop_leftovers,
    )
    result.update(status="reindexed" if ok else "failed", attempts=tries, seconds=seconds, error=error)
    after = _table_indexes(conn, regclass)
    result["size_after_bytes"] = sum(i["size_bytes"] for i in after if i["is_valid"])
    result["invalid_indexes"] = [i["index_name"] for i in after if not i["is_valid"]]


def reindex_tables(
    connect: Connect,
    tables: Iterable[str] = DEFAULT_TABLES,
    lock_timeout_ms: int = 5000,
    log: Log = print,
    *,
    attempts: int = 3,
    retry_delay_s: float = 5.0,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> list[dict]:
    """REINDEX TABLE CONCURRENTLY each table in turn (own autocommit connection, lock_timeout),
    retrying on lock timeouts; one dict per table, status "reindexed" or "failed" (never raises
    for a table). Indexes a failed attempt leaves INVALID are dropped before the next attempt."""
    results = []
    for table in tables:
        result: dict[str, Any] = {
            "table": table,
            "status": "failed",
            "attempts": 0,
            "seconds": None,
            "indexes": 0,
            "size_before_bytes": None,
            "size_after_bytes": None,
            "leftovers_dropped": [],
            "invalid_indexes": [],
            "notices": [],
            "error": None,
        }
        results.append(result)
        try:
            with maintenance_connection(
                connect, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            ) as conn:
                _reindex_table(conn, table, result, attempts=attempts, retry_delay_s=retry_delay_s, log=log)
        except psycopg.Error as exc:
            result["error"] = result["error"] or _error_text(exc)
            result["status"] = "failed"
        if result["status"] == "reindexed":
            log(
                f"reindex {table}: {result['indexes']} indexes rebuilt in {result['seconds']:.1f}s "
                f"(attempt {result['attempts']}), {result['size_before_bytes']:,} -> "
                f"{result['size_after_bytes']:,} bytes"
            )
        else:
            log(f"reindex {table}: FAILED after {result['attempts']} attempt(s): {result['error']}")
        if result["invalid_indexes"]:
            log(
                f"reindex {table}: INVALID indexes remain ({', '.join(result['invalid_indexes'])}); "
                "REINDEX CONCURRENTLY skips them: drop them with drop_invalid_indexes"
            )
    return results


def find_invalid_indexes(conn: psycopg.Connection) -> list[dict]:
    """Indexes with pg_index.indisvalid = false (notably *_ccnew / *_ccold left by a failed
    concurrent rebuild). build_in_progress marks those whose table has an index build running."""
    return db.fetch_all(conn, "maintenance/select_invalid_indexes.sql", {})


def drop_invalid_indexes(
    connect: Connect,
    names: Iterable[str],
    log: Log = print,
    *,
    lock_timeout_ms: int = 5000,
    attempts: int = 3,
    retry_delay_s: float = 5.0,
) -> list[dict]:
    """DROP INDEX CONCURRENTLY each named index (name or schema.name, as find_invalid_indexes'
    qualified_name) that is still INVALID; a valid index is never dropped. One dict per name with
    status "dropped", "skipped", "missing" or "failed"."""
    results = []
    with maintenance_connection(connect, lock_timeout_ms=lock_timeout_ms) as conn:
        for name in names:
            try:
                results.append(
                    _drop_index(conn, name, attempts=attempts, retry_delay_s=retry_delay_s, log=log)
                )
            except psycopg.Error as exc:
                results.append(
                    {
                        "index": name,
                        "status": "failed",
                        "attempts": 1,
                        "seconds": None,
                        "error": _error_text(exc),
                    }
                )
                log(f"drop {name}: FAILED: {_error_text(exc)}")
    return results


def _analyze_table(
    conn: psycopg.Connection, table: str, result: dict, *, attempts: int, retry_delay_s: float, log: Log
) -> None:
    target = _resolve_table(conn, table)
    if target is None:
        result["error"] = "no such table"
        return
    quoted = _quoted(conn, target["schema_name"], target["table_name"])

    def analyze() -> None:
        db.execute(conn, "maintenance/analyze_table.sql", {}, table=_jinja_identifier(quoted))

    ok, tries, seconds, error = _with_retries(
        conn, analyze, what=f"analyze {table}", attempts=attempts, retry_delay_s=retry_delay_s, log=log
    )
    result.update(status="analyzed" if ok else "failed", attempts=tries, seconds=seconds, error=error)
    stats = db.fetch_one(conn, "maintenance/select_table_statistics.sql", {"table_name": quoted})
    result["estimated_rows"] = stats["estimated_rows"] if stats else None


def analyze_tables(
    connect: Connect,
    tables: Iterable[str] = DEFAULT_TABLES,
    log: Log = print,
    *,
    lock_timeout_ms: int = 5000,
    attempts: int = 3,
    retry_delay_s: float = 5.0,
) -> list[dict]:
    """ANALYZE each table (runbook "Update statistics"); one dict per table with status
    "analyzed" or "failed", the time taken and the planner's row estimate afterwards."""
    results = []
    for table in tables:
        result: dict[str, Any] = {
            "table": table,
            "status": "failed",
            "attempts": 0,
            "seconds": None,
            "estimated_rows": None,
            "error": None,
        }
        results.append(result)
        try:
            with maintenance_connection(connect, lock_timeout_ms=lock_timeout_ms) as conn:
                _analyze_table(conn, table, result, attempts=attempts, retry_delay_s=retry_delay_s, log=log)
        except psycopg.Error as exc:
            result["error"] = result["error"] or _error_text(exc)
            result["status"] = "failed"
        if result["status"] == "analyzed":
            log(f"analyze {table}: {result['seconds']:.1f}s, ~{result['estimated_rows']:,} rows")
        else:
            log(f"analyze {table}: FAILED: {result['error']}")
    return results
