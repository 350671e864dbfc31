"""core.db.connect() through PostgresHook, against the real PostgreSQL (dev/pg.py)."""

from __future__ import annotations

import json
import socket
import threading
import time

import psycopg
import pytest

from nurture_ops.core import db
from tests.conftest import leads_db_connection_json


def _set_connection(monkeypatch, leads_db: str, *, port: int | None = None, **extra) -> None:
    """Rewire `leads_db` to the test's database, with `extra` as the connection's extras."""
    fields = json.loads(leads_db_connection_json(leads_db.rsplit("/", 1)[1]))
    if port is not None:
        fields["port"] = port
    if extra:
        fields["extra"] = extra
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", json.dumps(fields))


def _show(conn: psycopg.Connection, setting: str) -> str:
    return conn.execute("SELECT current_setting(%s) AS value", (setting,)).fetchone()["value"]


def test_extras_options_application_name_and_sslmode_are_merged(leads_db, monkeypatch):
    _set_connection(
        monkeypatch,
        leads_db,
        options="-c search_path=public -c work_mem=8MB",
        application_name="nurture_test_app",
        sslmode="disable",
    )
    with db.connect(statement_timeout_ms=45_000) as conn:
        assert isinstance(conn, psycopg.Connection)
        assert conn.execute("SHOW statement_timeout").fetchone() == {"statement_timeout": "45s"}
        assert conn.execute("SHOW search_path").fetchone() == {"search_path": "public"}
        assert _show(conn, "work_mem") == "8MB"
        assert _show(conn, "application_name") == "nurture_test_app"
        assert conn.info.get_parameters()["sslmode"] == "disable"
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == {
            "ssl": False
        }


def test_defaults_without_extras(leads_db):
    with db.connect() as conn:
        assert _show(conn, "application_name") == db.APPLICATION_NAME
        assert _show(conn, "statement_timeout") == "2min"
        assert _show(conn, "lock_timeout") == "0"
        assert conn.info.get_parameters()["connect_timeout"] == "10"


def test_package_timeouts_win_over_the_same_settings_in_the_extra(leads_db, monkeypatch):
    _set_connection(monkeypatch, leads_db, options="-c statement_timeout=1000 -c lock_timeout=1000")
    with db.connect(statement_timeout_ms=3000, lock_timeout_ms=2500) as conn:
        assert _show(conn, "statement_timeout") == "3s"
        assert _show(conn, "lock_timeout") == "2500ms"


def test_lock_timeout(leads_db):
    with db.connect(lock_timeout_ms=1500) as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == {"lock_timeout": "1500ms"}


def test_cursor_extra_does_not_change_row_type(leads_db, monkeypatch):
    _set_connection(monkeypatch, leads_db, cursor="namedtuplecursor")
    with db.connect() as conn:
        assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


@pytest.mark.parametrize(
    ("extra", "expected"), [({"connect_timeout": 60}, "5"), ({"connect_timeout": 3}, "3")]
)
def test_connect_timeout_is_the_tighter_bound(leads_db, monkeypatch, extra, expected):
    _set_connection(monkeypatch, leads_db, **extra)
    with db.connect(connect_timeout=5) as conn:
        assert conn.info.get_parameters()["connect_timeout"] == expected


@pytest.fixture
def silent_server():
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for client in accepted:
        client.close()
    listener.close()


def test_connect_timeout_argument_holds_against_a_silent_server(leads_db, monkeypatch, silent_server):
    # The extra asks for a far longer wait; the caller's bound wins.
    _set_connection(monkeypatch, leads_db, port=silent_server, connect_timeout=60, sslmode="disable")
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="timeout"), db.connect(connect_timeout=2):
        pass
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6, elapsed


def _values(leads_db: str) -> list[tuple]:
    with psycopg.connect(leads_db) as other:
        return other.execute("SELECT v FROM t_db_test ORDER BY v").fetchall()


@pytest.fixture
def table(leads_db) -> None:
    with psycopg.connect(leads_db, autocommit=True) as admin:
        admin.execute("CREATE TABLE t_db_test (v int)")


def test_commit_on_success_rollback_on_error(leads_db, table):
    with db.connect() as conn:
        conn.execute("INSERT INTO t_db_test VALUES (1)")
    assert conn.closed
    with pytest.raises(RuntimeError, match="boom"), db.connect() as conn:
        conn.execute("INSERT INTO t_db_test VALUES (2)")
        raise RuntimeError("boom")
    assert conn.closed
    assert _values(leads_db) == [(1,)]


def test_autocommit_keeps_what_ran_before_an_error(leads_db, table):
    with pytest.raises(RuntimeError, match="kept"), db.connect(autocommit=True) as conn:
        assert conn.autocommit
        conn.execute("INSERT INTO t_db_test VALUES (1)")
        raise RuntimeError("kept: autocommit")
    assert conn.closed
    assert _values(leads_db) == [(1,)]
