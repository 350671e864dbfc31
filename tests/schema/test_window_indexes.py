"""include/sql/schema/030_add_window_indexes.sql: the index migration an operator applies to a live
database (README "Window indexes"), applied here the way psql applies it, statement by statement
in autocommit, onto a database shaped like a deployment from before it."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import psycopg
import pytest

from dev import pg
from nurture_ops.quarterly_audit.schema import schema_readiness
from tests.builders import Seed

MIGRATION = Path(pg.SCHEMA_DIR) / "030_add_window_indexes.sql"
SUPERSEDED = {
    "email_sends_actual_send_time_idx": "email_sends (actual_send_time)",
    "email_sends_created_at_idx": "email_sends (created_at)",
    "email_sends_hard_bounce_lead_idx": "email_sends (lead_id) WHERE bounce_type = 'hard'",
    "email_sends_bounced_lead_idx": "email_sends (lead_id) WHERE send_status = 'bounced'",
    "email_sends_queued_scheduled_idx": "email_sends (scheduled_send_time) WHERE send_status = 'queued'",
    "email_sends_failed_created_at_idx": "email_sends (created_at) WHERE send_status = 'failed'",
    "lead_campaign_enrollments_active_next_send_idx": (
        "lead_campaign_enrollments (next_send_at) WHERE status = 'active'"
    ),
}


def _statements() -> list[str]:
    return pg.schema_statements(MIGRATION.read_text())


def _created_names() -> list[str]:
    return [
        re.search(r"IF NOT EXISTS (\w+)", s).group(1) for s in _statements() if s.startswith("CREATE INDEX")
    ]


def _index_states(conn: psycopg.Connection) -> dict[str, bool]:
    """name -> indisvalid, for the public schema's indexes."""
    rows = conn.execute(
        """
        SELECT c.relname, i.indisvalid
        FROM pg_index AS i
        INNER JOIN pg_class AS c ON c.oid = i.indexrelid
        WHERE c.relnamespace = 'public'::regnamespace
        """
    ).fetchall()
    return dict(rows)


def _as_before_the_migration(conn: psycopg.Connection) -> None:
    """The catalog of a deployment from before 030: its indexes absent, the plain ones present."""
    for name in _created_names():
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for name, target in SUPERSEDED.items():
        conn.execute(f"CREATE INDEX {name} ON {target}")


def _seed_sends(conn: psycopg.Connection, count: int) -> tuple[str, int, int]:
    seed = Seed(conn)
    org = seed.org("Acme")
    campaign = seed.campaign(org, "Welcome")
    lead = seed.lead(org)
    conn.execute(
        """
        INSERT INTO email_sends (organization_id, lead_id, campaign_id, send_status,
                                 scheduled_send_time, actual_send_time, created_at, updated_at)
        SELECT %(org)s, %(lead)s, %(campaign)s, 'sent', t, t + interval '30 seconds', t, t
        FROM (
            SELECT TIMESTAMPTZ '2026-11-01 00:00+00' + g * interval '7 seconds' AS t
            FROM GENERATE_SERIES(1, %(count)s) AS g
        ) AS s
        """,
        {"org": org, "lead": lead, "campaign": campaign, "count": count},
    )
    return str(org), lead, campaign


def test_every_statement_is_online_and_idempotent():
    statements = _statements()
    assert statements, "030 holds no statement"
    guards = [s for s in statements if s.startswith("WITH window_indexes AS")]
    assert len(guards) == 1
    for statement in statements:
        assert statement in guards or re.match(
            r"^(CREATE INDEX CONCURRENTLY IF NOT EXISTS|DROP INDEX CONCURRENTLY IF EXISTS) "
            r"|^ALTER TABLE \w+ SET \(\s*autovacuum_\w+ = \d+(,\s*autovacuum_\w+ = \d+)*\s*\)$",
            statement,
        ), statement
    # The guard names every index the file creates, and comes after them and before any drop.
    guard = guards[0]
    assert re.findall(r"\('(\w+)'\)", guard) == _created_names()
    assert f"WHEN v.valid = {len(_created_names())} THEN" in guard
    position = statements.index(guard)
    assert all(s.startswith("CREATE") or s.startswith("ALTER") for s in statements[:position])
    assert all(s.startswith("DROP") or s.startswith("ALTER") for s in statements[position + 1 :])


def _wait_until_waiting(conn: psycopg.Connection, query_start: str, timeout_s: float = 20.0) -> None:
    """Until a session running a statement that starts with `query_start` waits on a lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (query_start + "%",),
        ).fetchone()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError(f"no session started waiting on a lock: {query_start}")


def test_a_build_waiting_on_a_long_transaction_does_not_block_the_sender(db, leads_db):
    # A plain CREATE INDEX queued behind an open transaction blocks every later INSERT; the
    # migration's CONCURRENTLY builds wait without taking a lock that writers queue behind.
    _as_before_the_migration(db)
    org, lead, campaign = _seed_sends(db, 5_000)
    insert = "INSERT INTO email_sends (organization_id, lead_id, campaign_id) VALUES (%s, %s, %s)"
    first = next(s for s in _statements() if s.startswith("CREATE INDEX"))
    name = _created_names()[0]
    failures: list[BaseException] = []

    def migrate():
        try:
            with psycopg.connect(leads_db, autocommit=True) as migration:
                migration.execute(first)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with psycopg.connect(leads_db) as long_transaction:
        long_transaction.execute(insert, (org, lead, campaign))  # open, holding its row lock
        build = threading.Thread(target=migrate)
        build.start()
        _wait_until_waiting(db, "CREATE INDEX CONCURRENTLY")
        with psycopg.connect(leads_db, autocommit=True) as sender:
            sender.execute("SET lock_timeout = '2s'")
            sender.execute(insert, (org, lead, campaign))  # not queued behind the build
        long_transaction.commit()
    build.join(timeout=60)
    assert not failures, failures
    assert _index_states(db)[name] is True


def test_applies_to_a_deployment_from_before_and_again_as_a_no_op(db, leads_db):
    _as_before_the_migration(db)
    _seed_sends(db, 5_000)
    with psycopg.connect(leads_db, autocommit=True) as migration:
        for statement in _statements():
            migration.execute(statement)

    states = _index_states(db)
    assert all(states[name] for name in _created_names())
    assert not set(SUPERSEDED) & set(states)
    options = dict(
        db.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('email_sends', 'email_events')"
        )
    )
    assert "autovacuum_vacuum_insert_scale_factor=0" in options["email_sends"]
    assert "autovacuum_vacuum_insert_threshold=150000" in options["email_events"]
    with psycopg.connect(leads_db, autocommit=True) as migration:  # again: every statement a no-op
        for statement in _statements():
            migration.execute(statement)
    assert _index_states(db) == states
    readiness = schema_readiness(db)
    assert readiness["indexes"]["missing"] == [] and readiness["indexes"]["invalid"] == []


def test_a_failed_build_is_reported_invalid_and_a_rerun_after_dropping_it_repairs(db, leads_db):
    _as_before_the_migration(db)
    org, lead, campaign = _seed_sends(db, 5_000)
    first = next(s for s in _statements() if s.startswith("CREATE INDEX"))
    name = _created_names()[0]
    with psycopg.connect(leads_db) as long_transaction:
        # The build commits its catalog entry, then waits for this transaction: cancelled while
        # waiting, it leaves the index INVALID (as a crash or a timeout mid-build would).
        long_transaction.execute(
            "INSERT INTO email_sends (organization_id, lead_id, campaign_id) VALUES (%s, %s, %s)",
            (org, lead, campaign),
        )
        with psycopg.connect(leads_db, autocommit=True) as migration:
            migration.execute("SET statement_timeout = '1s'")
            with pytest.raises(psycopg.errors.QueryCanceled):
                migration.execute(first)
    assert _index_states(db)[name] is False
    readiness = schema_readiness(db)
    assert any(name in entry for entry in readiness["indexes"]["invalid"]), readiness["indexes"]

    # The whole file again: IF NOT EXISTS skips the invalid index, so the guard stops the file
    # before any drop, and the superseded indexes still serve the windows.
    stopped = pytest.raises(psycopg.errors.InvalidTextRepresentation, match="030 stopped before dropping")
    with psycopg.connect(leads_db, autocommit=True) as migration, stopped:
        for statement in _statements():
            migration.execute(statement)
    states = _index_states(db)
    assert states[name] is False and set(SUPERSEDED) <= set(states)
    # Dropping it (the monthly maintenance's drop_invalid_indexes, or by hand) and applying again repairs.
    with psycopg.connect(leads_db, autocommit=True) as migration:
        migration.execute(f"DROP INDEX CONCURRENTLY {name}")
        for statement in _statements():
            migration.execute(statement)
    states = _index_states(db)
    assert all(states[n] for n in _created_names()) and not set(SUPERSEDED) & set(states)
    assert schema_readiness(db)["indexes"]["invalid"] == []
