"""ensure_schema: the numbered migrations of the nurture_ops tables, against a real PostgreSQL.

A fresh database gets every migration and one version row each; an up-to-date one costs one
query; a deployment made before migrations existed upgrades in place; a new migration file is
applied exactly once, also when several tasks start at the same time.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime

import psycopg
import pytest

from nurture_ops.alerting import state as alert_state
from nurture_ops.core import sql

TABLES = {"alert_state", "alert_silences", "alert_notifications", "remediation_audit", "schema_migrations"}
TABLES |= {"alert_deliveries"}  # migration 003 (PagerDuty and escalation deliveries)
TABLES |= {"alert_actions"}  # migration 004: operator actions from the Lead Nurture page
# The repository's own migrations; the test migration comes after the last of them.
REAL = [(m.version, m.name) for m in alert_state.migrations()]
NEXT = REAL[-1][0] + 1
TEST_FILE = f"{NEXT:03d}_add_alert_state_test_note.sql"
# Not idempotent on purpose: a second application fails (DuplicateColumn), so "applied once" shows.
MIGRATION_002 = """-- Test migration: a column the real schema does not have.
ALTER TABLE {{ schema }}.alert_state ADD COLUMN test_note text;
"""


def version_rows(conn) -> list[tuple]:
    return conn.execute(
        "SELECT version, name, applied_at FROM nurture_ops.schema_migrations ORDER BY version"
    ).fetchall()


def tables(conn) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'nurture_ops'")
    return {name for (name,) in rows}


def columns(conn) -> list[tuple]:
    """Every column of the nurture_ops tables but the version table, with type, default, nullability."""
    return conn.execute(
        """SELECT table_name, column_name, data_type, column_default, is_nullable, is_identity
           FROM information_schema.columns
           WHERE table_schema = 'nurture_ops' AND table_name <> 'schema_migrations'
           ORDER BY table_name, column_name"""
    ).fetchall()


def schema_lock_held(conn) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND objsubid = 1)",
        (alert_state._SCHEMA_LOCK_KEY,),
    ).fetchone()[0]


@pytest.fixture
def fresh(leads_db):
    """An autocommit connection to a database with the lead-nurture tables and no nurture_ops."""
    with psycopg.connect(leads_db, autocommit=True) as conn:
        assert conn.execute("SELECT to_regnamespace('nurture_ops')").fetchone() == (None,)
        yield conn


@pytest.fixture
def sql_root_with_002(tmp_path, monkeypatch):
    """A copy of include/sql with a migration 002 added, in force through NURTURE_OPS_SQL_DIR."""
    root = tmp_path / "sql"
    shutil.copytree(sql.sql_root(), root)
    (root / "ops" / "migrations" / TEST_FILE).write_text(MIGRATION_002)
    monkeypatch.setenv("NURTURE_OPS_SQL_DIR", str(root))
    return root


def test_migrations_are_the_numbered_files_in_order(sql_root_with_002):
    (sql_root_with_002 / "ops" / "migrations" / "010_later.sql").write_text("SELECT 1;\n")
    found = alert_state.migrations()
    assert [(m.version, m.name) for m in found] == [
        *REAL,
        (NEXT, "add_alert_state_test_note"),
        (10, "later"),  # by number, not by name: 010 after 00N either way, and 10 > 9
    ]
    assert found[0].file == "ops/migrations/001_create_nurture_ops_schema.sql"


@pytest.mark.parametrize("bad", ["002_create_nurture_ops_schema.sql", "3-no-underscore.sql", "000_zero.sql"])
def test_a_misnamed_or_duplicate_migration_is_refused(sql_root_with_002, bad):
    (sql_root_with_002 / "ops" / "migrations" / bad).write_text("SELECT 1;\n")
    with pytest.raises(ValueError, match="migration file"):
        alert_state.migrations()


def test_a_fresh_database_gets_every_migration_and_its_version_row(fresh):
    alert_state.ensure_schema(fresh)
    assert tables(fresh) == TABLES
    rows = version_rows(fresh)
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in alert_state.migrations()]
    assert rows[0][:2] == (1, "create_nurture_ops_schema")
    assert alert_state.schema_version(fresh) == REAL[-1][0]
    assert not schema_lock_held(fresh)


def test_a_second_call_runs_one_query_and_changes_nothing(fresh, monkeypatch):
    alert_state.ensure_schema(fresh)
    before = (version_rows(fresh), columns(fresh))
    rendered = []
    real_render = sql.render
    monkeypatch.setattr(sql, "render", lambda name, **kw: rendered.append(name) or real_render(name, **kw))

    alert_state.ensure_schema(fresh)

    assert rendered == ["ops/select_schema_migration_version.sql"]
    assert (version_rows(fresh), columns(fresh)) == before


def test_an_up_to_date_check_leaves_a_non_autocommit_callers_transaction_alone(fresh, leads_db):
    alert_state.ensure_schema(fresh)
    with psycopg.connect(leads_db) as conn:
        conn.execute("CREATE TABLE caller_scratch (id int)")
        alert_state.ensure_schema(conn)
        conn.rollback()  # the caller decides: nothing of its transaction was committed for it
        assert conn.execute("SELECT to_regclass('caller_scratch')").fetchone() == (None,)


def test_a_deployment_from_before_migrations_upgrades_in_place_and_keeps_its_rows(fresh):
    # The schema as ensure_schema created it before migrations existed: the tables, no version table.
    fresh.execute(sql.render("ops/migrations/001_create_nurture_ops_schema.sql", schema="nurture_ops"))
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    fresh.execute(
        "INSERT INTO nurture_ops.alert_state (alert_key, scope, firing, notified_state, last_notified_at) "
        "VALUES ('high_email_failure_rate', '', TRUE, 'firing', %s)",
        (at,),
    )
    silence_id = alert_state.add_silence(
        fresh, "high_email_failure_rate", starts_at=at, ends_at=at.replace(hour=13), reason="incident"
    )
    fresh.execute(
        "INSERT INTO nurture_ops.remediation_audit (remediation_key, mode, outcome, reason, evaluated_at) "
        "VALUES ('pause_sender_workflow', 'dry_run', 'dry_run', 'test', %s)",
        (at,),
    )
    data = ("alert_state", "alert_silences", "alert_notifications", "remediation_audit")
    old_columns = {t: [c[1] for c in columns(fresh) if c[0] == t] for t in data}

    def snapshot_rows() -> dict:
        return {
            t: fresh.execute(f"SELECT {', '.join(old_columns[t])} FROM nurture_ops.{t} ORDER BY 1").fetchall()
            for t in data
        }

    snapshot = snapshot_rows()
    shape = columns(fresh)
    assert alert_state.schema_version(fresh) == 0

    alert_state.ensure_schema(fresh)

    assert [(v, n) for v, n, _ in version_rows(fresh)] == REAL
    assert set(shape) <= set(columns(fresh))  # 001 passed the old tables through; later ones only add
    assert snapshot_rows() == snapshot
    assert snapshot["alert_silences"][0][old_columns["alert_silences"].index("id")] == silence_id


def test_a_first_release_deployment_gets_the_column_added_since(fresh):
    fresh.execute(sql.render("ops/migrations/001_create_nurture_ops_schema.sql", schema="nurture_ops"))
    fresh.execute("ALTER TABLE nurture_ops.alert_state DROP COLUMN notified_value")
    alert_state.ensure_schema(fresh)
    assert ("alert_state", "notified_value", "jsonb") in {c[:3] for c in columns(fresh)}


def test_a_new_migration_is_applied_exactly_once(fresh, monkeypatch, tmp_path):
    alert_state.ensure_schema(fresh)  # at version 1 with the real migrations
    first = version_rows(fresh)
    root = tmp_path / "sql"
    shutil.copytree(sql.sql_root(), root)
    (root / "ops" / "migrations" / TEST_FILE).write_text(MIGRATION_002)
    monkeypatch.setenv("NURTURE_OPS_SQL_DIR", str(root))

    alert_state.ensure_schema(fresh)
    alert_state.ensure_schema(fresh)  # would fail with DuplicateColumn if 002 ran again

    rows = version_rows(fresh)
    assert rows[0] == first[0]  # 001 was not applied again
    assert [(v, n) for v, n, _ in rows] == [*REAL, (NEXT, "add_alert_state_test_note")]
    assert ("alert_state", "test_note", "text") in {c[:3] for c in columns(fresh)}
    assert alert_state.schema_version(fresh) == NEXT


def test_a_failing_migration_leaves_nothing_half_done_and_releases_the_lock(fresh, sql_root_with_002):
    path = sql_root_with_002 / "ops" / "migrations" / TEST_FILE
    path.write_text(MIGRATION_002 + "SELECT 1 / 0;\n")
    with pytest.raises(psycopg.errors.DivisionByZero):
        alert_state.ensure_schema(fresh)
    # The real ones are in (each its own transaction), the test one is not: neither column nor row.
    assert [v for v, _, _ in version_rows(fresh)] == [v for v, _ in REAL]
    assert "test_note" not in {c[1] for c in columns(fresh)}
    assert not schema_lock_held(fresh)

    path.write_text(MIGRATION_002)  # fixed: the next task applies it
    alert_state.ensure_schema(fresh)
    assert [v for v, _, _ in version_rows(fresh)] == [*(v for v, _ in REAL), NEXT]


@pytest.mark.parametrize("with_002", [False, True], ids=["real migrations", "with a new 002"])
def test_concurrent_callers_apply_each_migration_once(request, leads_db, fresh, with_002):
    """4 tasks starting at once on a fresh database, on 4 connections (autocommit on and off)."""
    if with_002:
        request.getfixturevalue("sql_root_with_002")
    barrier, errors = threading.Barrier(4), []

    def task(autocommit: bool) -> None:
        try:
            with psycopg.connect(leads_db, autocommit=autocommit) as own:
                barrier.wait()
                alert_state.ensure_schema(own)
                if not autocommit:
                    own.commit()
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    expected = [(m.version, m.name) for m in alert_state.migrations()]
    assert len(expected) == len(REAL) + (1 if with_002 else 0)
    assert [(v, n) for v, n, _ in version_rows(fresh)] == expected
    assert tables(fresh) == TABLES
    assert not schema_lock_held(fresh)
