"""Connections to the lead-nurture database, with timeouts, and small query helpers.

Tasks go through `connect()`; the pure functions of the package take a psycopg connection, so
tests hand them one made from a DSN.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from nurture_ops.core import sql

LEADS_DB_CONN_ID = "leads_db"
APPLICATION_NAME = "nurture_ops"


def connection_kwargs(conn_id: str = LEADS_DB_CONN_ID) -> dict[str, Any]:
    """libpq arguments from an Airflow connection (extras such as sslmode pass through)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    kwargs: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port or 5432,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
    }
    for key, value in conn.extra_dejson.items():
        if key not in {"cursor", "iam", "aws_conn_id", "log_sql"}:
            kwargs[key] = value
    return {k: v for k, v in kwargs.items() if v not in (None, "")}


@contextmanager
def connect(
    conn_id: str = LEADS_DB_CONN_ID,
    *,
    connect_timeout: int = 10,
    statement_timeout_ms: int = 120_000,
    lock_timeout_ms: int | None = None,
    autocommit: bool = False,
):
    """A psycopg connection with dict rows and bounded waits; committed on success."""
    options = f"-c statement_timeout={statement_timeout_ms}"
    if lock_timeout_ms is not None:
        options += f" -c lock_timeout={lock_timeout_ms}"
    kwargs = connection_kwargs(conn_id)
    kwargs.setdefault("connect_timeout", connect_timeout)
    conn = psycopg.connect(
        **kwargs,
        application_name=APPLICATION_NAME,
        options=options,
        autocommit=autocommit,
        row_factory=dict_row,
    )
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
