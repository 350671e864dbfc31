"""Connections to the lead-nurture database, with timeouts, and small query helpers.

Tasks go through `connect()`, which opens the connection with the Postgres provider's
`PostgresHook` (psycopg 3), so every connection extra the provider understands (sslmode and the
other libpq parameters, options, application_name, cursor, iam / aws_conn_id / redshift, azure_conn_id,
sqlalchemy_*) means what the provider's documentation says. The pure functions of the package take
a psycopg connection, so tests hand them one made from a DSN.

Least privilege: a task says what it does, `connect(purpose="read" | "write" | "maintain")`, and
gets the connection meant for it (`conn_id_for`): `leads_db_readonly` for reading (every check's
measure, the reports), `leads_db_maintenance` for REINDEX, ANALYZE, the archive and the cleanup,
each only when that Airflow connection is defined; otherwise, and for writing, `leads_db`. The
roles behind them are include/sql/roles (nurture_ops_reader, nurture_ops_writer,
nurture_ops_maintainer).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from nurture_ops.core import sql

LEADS_DB_CONN_ID = "leads_db"
READONLY_CONN_ID = "leads_db_readonly"
MAINTENANCE_CONN_ID = "leads_db_maintenance"
APPLICATION_NAME = "nurture_ops"

Purpose = Literal["read", "write", "maintain"]
# The connection each purpose prefers; leads_db stands in for one that is not defined.
PURPOSE_CONN_IDS: dict[str, str] = {
    "read": READONLY_CONN_ID,
    "write": LEADS_DB_CONN_ID,
    "maintain": MAINTENANCE_CONN_ID,
}

log = logging.getLogger(__name__)


def _connection_defined(conn_id: str) -> bool:
    """Whether Airflow knows the connection (environment, secrets backend or metadata DB)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    except Exception as exc:  # a lookup that fails tells no more than a missing connection
        log.warning("Could not look up the connection %s (%s); treating it as not defined", conn_id, exc)
        return False
    return True


def conn_id_for(purpose: Purpose) -> str:
    """The Airflow connection for `purpose`: its own when defined, else `leads_db`.

    Looked up at every call (never at import), so a connection added later is used from the next
    task on; the choice is logged.
    """
    try:
        preferred = PURPOSE_CONN_IDS[purpose]
    except KeyError:
        raise ValueError(
            f"Unknown connection purpose {purpose!r}; known: {', '.join(PURPOSE_CONN_IDS)}"
        ) from None
    if preferred == LEADS_DB_CONN_ID:
        log.info("Database connection for %s: %s", purpose, LEADS_DB_CONN_ID)
        return LEADS_DB_CONN_ID
    if _connection_defined(preferred):
        log.info("Database connection for %s: %s", purpose, preferred)
        return preferred
    log.info("Database connection for %s: %s (%s is not defined)", purpose, LEADS_DB_CONN_ID, preferred)
    return LEADS_DB_CONN_ID


# Session defaults for the package's own statements (issue 14, measured in `make bench`): each reads
# one window and returns a few rows, so JIT compilation (40-200 ms a statement at capacity) costs
# more than it saves, and a week's per-minute aggregates (10,000 groups) spill to disk at the
# default 4 MB work_mem. They come first, so the connection's own `options` can override them.
SESSION_DEFAULTS = "-c jit=off -c work_mem=32MB"


def _merge_options(existing: Any, added: str) -> str:
    """The package's session defaults, the connection's own `options`, then the per-call settings.

    PostgreSQL applies startup options in order, so for a setting named in both (say the extra
    also sets statement_timeout) the package's per-call value, which comes last, is the one in
    force; a jit or work_mem in the extra overrides SESSION_DEFAULTS.
    """
    existing = "" if existing is None else str(existing).strip()
    return " ".join(part for part in (SESSION_DEFAULTS, existing, added) if part)


def _effective_connect_timeout(requested: int | None, from_extra: Any) -> int | None:
    """The tighter of connect()'s `connect_timeout` and the extra's; a value <= 0 means "none"."""

    def positive(value: Any) -> int | None:
        try:
            seconds = int(float(value))
        except (TypeError, ValueError):
            return None
        return seconds if seconds > 0 else None

    bounds = [b for b in (positive(requested), positive(from_extra)) if b is not None]
    return min(bounds) if bounds else None


@functools.cache
def _hook_class() -> type:
    """PostgresHook, with the package's session settings injected where it opens the connection.

    Built on first use so that parsing a DAG file does not import the provider.
    """
    from airflow.providers.postgres.hooks import postgres

    if not postgres.USE_PSYCOPG3:
        raise RuntimeError(
            "PostgresHook is not using psycopg 3 (needs psycopg and SQLAlchemy 2 installed); "
            "nurture_ops relies on psycopg 3 connections"
        )

    class NurtureOpsPostgresHook(postgres.PostgresHook):
        def __init__(
            self,
            *args: Any,
            session_options: str,
            connect_timeout: int | None,
            autocommit: bool,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self._session_options = session_options
            self._connect_timeout = connect_timeout
            self._autocommit = autocommit

        def _get_cursor_config(self, raw_cursor: str) -> tuple[str, Any]:
            # The package reads rows by column name, whatever row type the `cursor` extra asks for.
            return "row_factory", dict_row

        def _create_connection(self, conn_args: dict[str, Any]) -> Any:
            args = {k: v for k, v in conn_args.items() if v not in (None, "")}
            args["options"] = _merge_options(args.get("options"), self._session_options)
            args.setdefault("application_name", APPLICATION_NAME)
            timeout = _effective_connect_timeout(self._connect_timeout, args.get("connect_timeout"))
            if timeout is None:
                args.pop("connect_timeout", None)
            else:
                args["connect_timeout"] = timeout
            args["autocommit"] = self._autocommit
            args["row_factory"] = dict_row
            return super()._create_connection(args)

    return NurtureOpsPostgresHook


@contextmanager
def connect(
    conn_id: str | None = None,
    *,
    purpose: Purpose | None = None,
    connect_timeout: int = 10,
    statement_timeout_ms: int = 120_000,
    lock_timeout_ms: int | None = None,
    autocommit: bool = False,
) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection with dict rows and bounded waits; committed on success.

    Which Airflow connection: `conn_id` when given; else the one for `purpose` (`conn_id_for`:
    "read" prefers leads_db_readonly, "maintain" leads_db_maintenance, "write" is leads_db, each
    falling back to leads_db); else leads_db. Giving both is an error.

    The connection comes from `PostgresHook(conn_id)`, so the Airflow connection's extras keep the
    provider's meaning. On top of them:

    - `statement_timeout_ms` and `lock_timeout_ms` are appended as `-c` settings to the extra's own
      `options` (e.g. `-c search_path=foo` becomes `-c search_path=foo -c statement_timeout=...`);
      for a setting both name, the value given here wins.
    - `application_name` defaults to `nurture_ops`; an `application_name` in the extra wins.
    - `connect_timeout` (seconds) is an upper bound: the extra's `connect_timeout` applies only when
      it is shorter. A bound given by the caller is never stretched by the connection's
      configuration, so the 5 s database probe of the alerts stays a 5 s probe. psycopg waits at
      least 2 s; a value <= 0 means no bound from that side.
    - rows are dicts (`dict_row`) whatever the `cursor` extra says, since the package reads rows by
      column name.

    The transaction is committed when the block ends normally and rolled back when it raises
    (unless `autocommit`); the connection is always closed.
    """
    if conn_id is not None and purpose is not None:
        raise ValueError(f"connect() takes conn_id or purpose, not both (got {conn_id!r} and {purpose!r})")
    if conn_id is None:
        conn_id = LEADS_DB_CONN_ID if purpose is None else conn_id_for(purpose)
    options = f"-c statement_timeout={statement_timeout_ms}"
    if lock_timeout_ms is not None:
        options += f" -c lock_timeout={lock_timeout_ms}"
    hook = _hook_class()(
        postgres_conn_id=conn_id,
        session_options=options,
        connect_timeout=connect_timeout,
        autocommit=autocommit,
    )
    conn = hook.get_conn()
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit and not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()


def fetch_all(conn: psycopg.Connection, sql_file: str, params: dict | None = None, **jinja) -> list[dict]:
    """Run include/sql/<sql_file> and return its rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.render(sql_file, **jinja), params or {})
        return cur.fetchall() if cur.description else []


def fetch_one(conn: psycopg.Connection, sql_file: str, params: dict | None = None, **jinja) -> dict | None:
    rows = fetch_all(conn, sql_file, params, **jinja)
    return rows[0] if rows else None


def execute(conn: psycopg.Connection, sql_file: str, params: dict | None = None, **jinja) -> int:
    """Run a statement file; returns the affected row count of its last statement."""
    with conn.cursor() as cur:
        cur.execute(sql.render(sql_file, **jinja), params or {})
        return cur.rowcount
