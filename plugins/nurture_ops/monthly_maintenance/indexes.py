"""Runbook "Index Maintenance (Monthly)": rebuild indexes and update statistics, online.

The runbook's `REINDEX TABLE` takes locks that stop every write to the table for the whole
rebuild; here each table is rebuilt with `REINDEX TABLE CONCURRENTLY`, which keeps reads and
writes flowing. It cannot run inside a transaction block, so these functions open their own
autocommit connections from `connect`, which is one of:

- a libpq DSN string, or a mapping of psycopg.connect() keyword arguments;
- a zero-argument callable returning a psycopg connection, or a context manager yielding one,
  e.g. `functools.partial(nurture_ops.db.connect, autocommit=True)` in a task.

Failure handling:
- `lock_timeout` bounds every wait for a lock (including REINDEX CONCURRENTLY's waits for older
  transactions, which are lock waits on their virtual transaction ids); a table that times out
  is retried a few times, then reported as failed while the other tables go on. Nothing here
  raises for one table.
- Long transactions: after building the new indexes the rebuild waits for every older snapshot
  in the database and for the transactions holding locks on the table. One open for long would
  make it time out and throw the finished indexes away, so before each attempt the sessions (and
  prepared transactions) open for more than `long_transaction_s` that hold a snapshot or a lock
  on the table are looked up; if there is one the table is "deferred", naming them, and no
  REINDEX starts. (The maintenance role needs pg_read_all_stats to see other users' sessions;
  without it the result carries a warning.)
- A failed concurrent rebuild leaves INVALID `*_ccnew` indexes behind (still maintained on every
  write, never used by queries), on the table and on its TOAST table (schema pg_toast). Those
  created by the failed attempt are dropped right away with DROP INDEX CONCURRENTLY (a pg_toast
  index is named schema-qualified: pg_toast is not on the search path, and PostgreSQL lets an
  INVALID TOAST index be dropped, never a valid one); older ones are reported by
  `find_invalid_indexes` and dropped by `drop_invalid_indexes`, which re-checks each index is
  still invalid and not being built.
- REINDEX and ANALYZE need the table's owner (or a member of the owning role, or a superuser).
  As another role REINDEX fails at once ("must be owner") and ANALYZE skips the table with only a
  WARNING; both are reported as status "skipped" with reason "not owner: ..." and the GRANT
  that fixes it (`fix`), never as "analyzed" or as a generic failure.

Statuses: reindex "reindexed", "deferred", "skipped", "failed"; analyze "analyzed", "skipped",
"failed". `reason` explains "deferred" and "skipped", `error` a failure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
import tenacity
from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from nurture_ops.core import db

DEFAULT_TABLES = ("lead_campaign_enrollments", "email_sends", "email_events")
DEFAULT_STATEMENT_TIMEOUT_MS = 3_600_000
# A transaction open this long when a rebuild would start is taken to outlast the build.
DEFAULT_LONG_TRANSACTION_S = 60.0
# Waiting too long for a lock (lock_timeout) or losing a deadlock: worth another attempt later.
RETRYABLE_ERRORS = (errors.LockNotAvailable, errors.DeadlockDetected)
# The WARNING of an ANALYZE that skipped the table: PostgreSQL 15 'skipping "t" --- only table or
# database owner can analyze it', 16 and later 'permission denied to analyze "t", skipping it'.
ANALYZE_SKIPPED = re.compile(r'^(skipping "|permission denied to analyze )')
BLOCKERS_NAMED = 3
# In the fix for a table owned by a superuser: a NOLOGIN role without superuser, to create.
OWNER_ROLE_PLACEHOLDER = "owner_role"

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


def _target(conn: psycopg.Connection, table: str, result: dict) -> dict | None:
    """The table resolved (owner, whether we act as it, ...) with its quoted name as `regclass`;
    None, with the result's error set, when there is no such table."""
    target = _resolve_table(conn, table)
    if target is None:
        result["error"] = "no such table"
        return None
    return {**target, "regclass": _quoted(conn, target["schema_name"], target["table_name"])}


def _table_indexes(conn: psycopg.Connection, regclass: str) -> list[dict]:
    """The indexes of the table and of its TOAST table (is_toast)."""
    return db.fetch_all(conn, "maintenance/select_table_indexes.sql", {"table_name": regclass})


def _error_text(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _CleanupFailed(Exception):
    """on_failure() raised: not a failed attempt to retry, but an error to pass on as it is."""

    def __init__(self, error: BaseException, statement_error: BaseException):
        super().__init__(str(error))
        self.error = error
        self.statement_error = statement_error


class _Outcome(NamedTuple):
    ok: bool
    attempts: int
    seconds: float | None  # of the attempt that succeeded
    exc: BaseException | None  # of the last attempt, when none succeeded

    @property
    def error(self) -> str | None:
        if self.exc is not None:
            return _error_text(self.exc)
        return None if self.ok else "no attempt made"

    def record(self, result: dict, done: str) -> None:
        """Into a result dict: status `done` or "failed", attempts, seconds, error."""
        result.update(
            status=done if self.ok else "failed",
            attempts=self.attempts,
            seconds=self.seconds,
            error=self.error,
        )


def _with_retries(
    conn: psycopg.Connection,
    statement: Callable[[], Any],
    *,
    what: str,
    attempts: int,
    retry_delay_s: float,
    log: Log,
    on_failure: Callable[[], Any] | None = None,
) -> _Outcome:
    """Run statement() up to `attempts` times while it fails on a lock (RETRYABLE_ERRORS), waiting
    retry_delay_s, 2 x retry_delay_s, ... in between; on_failure() runs after every failed attempt.
    An exception other than a psycopg.Error (e.g. _Deferred) ends the retries and is raised."""
    if attempts < 1:
        return _Outcome(False, attempts, None, None)
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
        return _Outcome(False, retrying.statistics["attempt_number"], None, exc)
    return _Outcome(True, retrying.statistics["attempt_number"], seconds, None)


def _drop_index(
    conn: psycopg.Connection, name: str, *, attempts: int, retry_delay_s: float, log: Log
) -> dict:
    """Drop one index only if it is still INVALID and no index build runs on its table."""
    result = {"index": name, "status": "failed", "attempts": 0, "seconds": None, "error": None}
    try:
        found = db.fetch_one(conn, "maintenance/select_index.sql", {"index_name": name})
    except (errors.InvalidName, errors.SyntaxError) as exc:
        found, result["error"] = None, _error_text(exc)
    except errors.InsufficientPrivilege as exc:
        # pg_toast.<name>: only superusers have USAGE on pg_toast, and both the look-up and
        # DROP INDEX resolve the name through it.
        result["error"] = f"{_error_text(exc)} (GRANT USAGE ON SCHEMA pg_toast TO {conn.info.user})"
        log(f"drop {name}: FAILED: {result['error']}")
        return result
    if found is None:
        result["status"] = "missing"
        if result["error"] is None:
            result["error"] = "no such index"
            if "." not in name and name.startswith("pg_toast_"):
                result["error"] += " (an index of a TOAST table is named pg_toast.<name>)"
        log(f"drop {name}: {result['error']}, nothing to do")
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
    # Always schema-qualified: an index in pg_toast is not found by its bare name.
    qualified = _quoted(conn, found["schema_name"], found["index_name"])

    def drop() -> None:
        db.execute(conn, "maintenance/drop_invalid_index.sql", {}, index=_jinja_identifier(qualified))

    outcome = _with_retries(
        conn, drop, what=f"drop {qualified}", attempts=attempts, retry_delay_s=retry_delay_s, log=log
    )
    outcome.record(result, "dropped")
    log(
        f"drop {found['schema_name']}.{found['index_name']}: dropped in {outcome.seconds:.1f}s"
        if outcome.ok
        else f"drop {qualified}: FAILED: {result['error']}"
    )
    return result


def _skip_not_owner(target: dict, result: dict, *, attempts: int) -> None:
    """Status "skipped": the role does not act as the table's owner. The fix makes it a member of
    the owning role; a superuser owner is never granted (that would hand over everything it
    owns): the table gets an owner role first."""
    superuser = ", a superuser" if target["owner_is_superuser"] else ""
    result.update(
        status="skipped",
        attempts=attempts,
        owner=target["owner_name"],
        reason=(
            f"not owner: {target['qualified_ident']} is owned by {target['owner_name']}{superuser}; "
            f"{target['role_name']} is not a member of it"
        ),
    )
    if target["owner_is_superuser"]:
        result["fix"] = (
            f"ALTER TABLE {target['qualified_ident']} OWNER TO {OWNER_ROLE_PLACEHOLDER}; "
            f"GRANT {OWNER_ROLE_PLACEHOLDER} TO {target['role_ident']}"
        )
    else:
        result["fix"] = f"GRANT {target['owner_ident']} TO {target['role_ident']}"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _blocker(row: dict) -> dict:
    """A row of select_rebuild_blockers.sql, JSON-friendly (XCom)."""
    since = row["open_since"]
    return {
        **row,
        "open_since": since.astimezone(UTC).isoformat() if isinstance(since, datetime) else since,
        "age_s": round(float(row["age_s"]), 1),
    }


def _describe_blocker(blocker: dict) -> str:
    if blocker["pid"] is None:
        who = [f"prepared transaction {blocker['prepared_gid']!r}", f"owner {blocker['user_name']}"]
    else:
        who = [
            f"pid {blocker['pid']}",
            f"application {blocker['application_name'] or '(none)'}",
            f"user {blocker['user_name']}",
        ]
        if blocker["client_addr"]:
            who.append(f"from {blocker['client_addr']}")
        if blocker["state"]:
            who.append(blocker["state"])
    holds = [
        what
        for what, held in (
            ("a snapshot", blocker["holds_snapshot"]),
            ("a lock on the table", blocker["holds_lock"]),
        )
        if held
    ]
    return f"{', '.join(who)}, {_age(blocker['age_s'])}; holds {' and '.join(holds)}"


def _since(blocker: dict) -> str:
    return datetime.fromisoformat(blocker["open_since"]).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Deferred(Exception):
    """Long transactions would make the rebuild wait after its build: do not start it."""

    def __init__(self, blockers: list[dict]):
        oldest, others = blockers[0], blockers[1:]
        if not others:
            reason = (
                f"a transaction open since {_since(oldest)} ({_describe_blocker(oldest)}) "
                "would make the rebuild wait; rerun when it ends"
            )
        else:
            also = ", ".join(
                f"pid {b['pid']}" if b["pid"] is not None else f"prepared {b['prepared_gid']!r}"
                for b in others[:BLOCKERS_NAMED]
            )
            more = f" and {len(others) - BLOCKERS_NAMED} more" if len(others) > BLOCKERS_NAMED else ""
            reason = (
                f"{len(blockers)} transactions, the oldest open since {_since(oldest)} "
                f"({_describe_blocker(oldest)}; also {also}{more}) would make the rebuild wait; "
                "rerun when they end"
            )
        super().__init__(reason)
        self.reason = reason
        self.blockers = blockers


def _rebuild_blockers(conn: psycopg.Connection, target: dict, older_than_s: float) -> list[dict]:
    rows = db.fetch_all(
        conn,
        "maintenance/select_rebuild_blockers.sql",
        {"table_oid": target["table_oid"], "older_than_s": float(older_than_s)},
    )
    return [_blocker(row) for row in rows]


def _reindex_table(
    conn: psycopg.Connection,
    target: dict,
    result: dict,
    *,
    attempts: int,
    retry_delay_s: float,
    long_transaction_s: float,
    log: Log,
) -> None:
    regclass = target["regclass"]
    before = _table_indexes(conn, regclass)
    invalid_before = {(i["schema_name"], i["index_name"]) for i in before if not i["is_valid"]}
    own_valid = [i for i in before if i["is_valid"] and not i["is_toast"]]
    result["indexes"] = len(own_valid)
    result["size_before_bytes"] = sum(i["size_bytes"] for i in own_valid)
    # Not the owner: REINDEX fails at once (nothing built), so there is nothing to wait for.
    check_blockers = target["acts_as_owner"]
    if check_blockers and not target["sees_all_sessions"]:
        result["warnings"].append(
            f"{target['role_name']} cannot see other users' transactions, so a long one may go "
            f"unnoticed: GRANT pg_read_all_stats TO {target['role_ident']}"
        )
    started = 0

    def reindex() -> None:
        nonlocal started
        if check_blockers:
            blockers = _rebuild_blockers(conn, target, long_transaction_s)
            if blockers:
                raise _Deferred(blockers)
        started += 1
        db.execute(conn, "maintenance/reindex_table.sql", {}, table=_jinja_identifier(regclass))

    def drop_leftovers() -> None:
        """Drop what the failed attempt left INVALID (*_ccnew, on the table or its TOAST table),
        never an index that was there before."""
        for index in _table_indexes(conn, regclass):
            if index["is_valid"] or (index["schema_name"], index["index_name"]) in invalid_before:
                continue
            name = _quoted(conn, index["schema_name"], index["index_name"])
            dropped = _drop_index(conn, name, attempts=attempts, retry_delay_s=retry_delay_s, log=log)
            if dropped["status"] == "dropped":
                result["leftovers_dropped"].append(index["index_name"])
            elif dropped["status"] == "failed":
                result["warnings"].append(f"{name} left INVALID: {dropped['error']}")

    try:
        outcome = _with_retries(
            conn,
            reindex,
            what=f"reindex {result['table']}",
            attempts=attempts,
            retry_delay_s=retry_delay_s,
            log=log,
            on_failure=drop_leftovers,
        )
    except _Deferred as deferred:
        result.update(status="deferred", attempts=started, reason=deferred.reason, blockers=deferred.blockers)
    else:
        if isinstance(outcome.exc, errors.InsufficientPrivilege) and not target["acts_as_owner"]:
            _skip_not_owner(target, result, attempts=outcome.attempts)
            result["notices"].append(str(outcome.exc))
        else:
            outcome.record(result, "reindexed")
    after = _table_indexes(conn, regclass)
    result["size_after_bytes"] = sum(i["size_bytes"] for i in after if i["is_valid"] and not i["is_toast"])
    result["invalid_indexes"] = [i["index_name"] for i in after if not i["is_valid"]]


def _not_done(result: dict) -> str:
    """The log text of a table not done: deferred, skipped (with the fix) or failed."""
    if result["status"] == "deferred":
        return f"deferred: {result['reason']}"
    if result["status"] == "skipped":
        return f"skipped: {result['reason']}" + (f"; {result['fix']}" if result["fix"] else "")
    return f"FAILED: {result['error']}"


def _for_each_table(
    connect: Connect,
    tables: Iterable[str],
    work: Callable[[psycopg.Connection, dict, dict], None],
    *,
    fields: Callable[[], dict],
    describe: Callable[[dict], list[str]],
    log: Log,
    lock_timeout_ms: int,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> list[dict]:
    """work(conn, target, result) for each table on its own maintenance connection; one result
    dict per table, never raising for one, and the lines describe(result) gives logged. Server
    notices and warnings land in result["notices"]."""
    results = []
    for table in tables:
        result: dict[str, Any] = {
            "table": table,
            "status": "failed",
            "attempts": 0,
            "seconds": None,
            **fields(),
            "reason": None,
            "fix": None,
            "owner": None,
            "notices": [],
            "warnings": [],
            "error": None,
        }
        results.append(result)
        try:
            with maintenance_connection(
                connect, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            ) as conn:
                notices = result["notices"]
                conn.add_notice_handler(lambda diag, notices=notices: notices.append(diag.message_primary))
                target = _target(conn, table, result)
                if target is not None:
                    work(conn, target, result)
        except psycopg.Error as exc:
            result["error"] = result["error"] or _error_text(exc)
            result["status"] = "failed"
        for line in describe(result):
            log(line)
    return results


def _warnings(verb: str, result: dict) -> list[str]:
    return [f"{verb} {result['table']}: WARNING: {warning}" for warning in result["warnings"]]


def _describe_reindex(result: dict) -> list[str]:
    table = result["table"]
    if result["status"] == "reindexed":
        lines = [
            f"reindex {table}: {result['indexes']} indexes rebuilt in {result['seconds']:.1f}s "
            f"(attempt {result['attempts']}), {result['size_before_bytes']:,} -> "
            f"{result['size_after_bytes']:,} bytes"
        ]
    elif result["status"] == "failed":
        lines = [f"reindex {table}: FAILED after {result['attempts']} attempt(s): {result['error']}"]
    else:
        lines = [f"reindex {table}: {_not_done(result)}"]
    if result["invalid_indexes"]:
        lines.append(
            f"reindex {table}: INVALID indexes remain ({', '.join(result['invalid_indexes'])}); "
            "REINDEX CONCURRENTLY skips them: drop them with drop_invalid_indexes"
        )
    return lines + _warnings("reindex", result)


def reindex_tables(
    connect: Connect,
    tables: Iterable[str] = DEFAULT_TABLES,
    lock_timeout_ms: int = 5000,
    log: Log = print,
    *,
    attempts: int = 3,
    retry_delay_s: float = 5.0,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    long_transaction_s: float = DEFAULT_LONG_TRANSACTION_S,
) -> list[dict]:
    """REINDEX TABLE CONCURRENTLY each table in turn (own autocommit connection, lock_timeout),
    retrying on lock timeouts; one dict per table, status "reindexed", "deferred" (a transaction
    open more than long_transaction_s would make it wait: `reason`, `blockers`), "skipped" (not
    the owner: `reason`, `fix`) or "failed" (`error`); never raises for a table. Indexes a failed
    attempt leaves INVALID, on the table or its TOAST table, are dropped before the next attempt."""

    def work(conn: psycopg.Connection, target: dict, result: dict) -> None:
        _reindex_table(
            conn,
            target,
            result,
            attempts=attempts,
            retry_delay_s=retry_delay_s,
            long_transaction_s=long_transaction_s,
            log=log,
        )

    def fields() -> dict:
        return {
            "indexes": 0,
            "size_before_bytes": None,
            "size_after_bytes": None,
            "leftovers_dropped": [],
            "invalid_indexes": [],
            "blockers": [],
        }

    return _for_each_table(
        connect,
        tables,
        work,
        fields=fields,
        describe=_describe_reindex,
        log=log,
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
    )


def find_invalid_indexes(conn: psycopg.Connection, tables: Iterable[str] = DEFAULT_TABLES) -> list[dict]:
    """Indexes with pg_index.indisvalid = false (notably *_ccnew / *_ccold left by a failed
    concurrent rebuild): every one outside the system schemas, and the *_ccnew / *_ccold on the
    TOAST tables of `tables` (is_toast; table_name is then the table they belong to, and
    qualified_name starts with pg_toast.). build_in_progress marks those whose table has an index
    build running."""
    return db.fetch_all(conn, "maintenance/select_invalid_indexes.sql", {"tables": list(tables)})


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
    qualified_name; a TOAST index only as pg_toast.name) that is still INVALID; a valid index is
    never dropped. One dict per name with status "dropped", "skipped", "missing" or "failed"."""
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
    conn: psycopg.Connection, target: dict, result: dict, *, attempts: int, retry_delay_s: float, log: Log
) -> None:
    quoted = target["regclass"]
    first_notice = len(result["notices"])

    def analyze() -> None:
        db.execute(conn, "maintenance/analyze_table.sql", {}, table=_jinja_identifier(quoted))

    outcome = _with_retries(
        conn,
        analyze,
        what=f"analyze {result['table']}",
        attempts=attempts,
        retry_delay_s=retry_delay_s,
        log=log,
    )
    # ANALYZE of a table the role may not analyze succeeds, with only a WARNING that it skipped it.
    skipped = [n for n in result["notices"][first_notice:] if ANALYZE_SKIPPED.match(n)]
    refused = isinstance(outcome.exc, errors.InsufficientPrivilege)
    if (skipped or refused) and not target["acts_as_owner"]:
        _skip_not_owner(target, result, attempts=outcome.attempts)
    elif skipped:
        result.update(
            status="skipped", attempts=outcome.attempts, reason=f"PostgreSQL skipped it: {skipped[0]}"
        )
    else:
        outcome.record(result, "analyzed")
    stats = db.fetch_one(conn, "maintenance/select_table_statistics.sql", {"table_name": quoted})
    result["estimated_rows"] = stats["estimated_rows"] if stats else None


def _describe_analyze(result: dict) -> list[str]:
    if result["status"] == "analyzed":
        line = f"analyze {result['table']}: {result['seconds']:.1f}s, ~{result['estimated_rows']:,} rows"
    else:
        line = f"analyze {result['table']}: {_not_done(result)}"
    return [line, *_warnings("analyze", result)]


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
    "analyzed", "skipped" (PostgreSQL skipped it, e.g. not the owner: `reason`, `fix`) or
    "failed", the time taken and the planner's row estimate afterwards."""

    def work(conn: psycopg.Connection, target: dict, result: dict) -> None:
        _analyze_table(conn, target, result, attempts=attempts, retry_delay_s=retry_delay_s, log=log)

    return _for_each_table(
        connect,
        tables,
        work,
        fields=lambda: {"estimated_rows": None},
        describe=_describe_analyze,
        log=log,
        lock_timeout_ms=lock_timeout_ms,
    )
