"""The schema contract and the embedded PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dev import pg

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "include" / "sql" / "schema"
CONTRACT = {
    "organizations": {"id", "name"},
    "nurture_campaigns": {"id", "organization_id", "campaign_name"},
    "leads": {"id", "organization_id", "name", "email", "metadata", "created_at"},
    "lead_preferences": {"lead_id"},
    "lead_campaign_enrollments": {
        "id",
        "organization_id",
        "campaign_id",
        "lead_id",
        "status",
        "next_send_at",
        "completion_reason",
        "created_at",
        "updated_at",
        "completed_at",
    },
    "email_sends": {
        "id",
        "organization_id",
        "enrollment_id",
        "lead_id",
        "campaign_id",
        "send_status",
        "scheduled_send_time",
        "actual_send_time",
        "failure_reason",
        "bounce_type",
        "opened_at",
        "first_click_at",
        "created_at",
        "updated_at",
    },
    "email_events": {
        "id",
        "email_send_id",
        "event_type",
        "event_timestamp",
        "event_hash",
        "payload",
        "created_at",
    },
    "campaign_analytics": {
        "organization_id",
        "campaign_id",
        "analytics_date",
        "emails_sent_today",
        "unique_opens_today",
        "unique_clicks_today",
        "open_rate",
        "click_rate",
        "unsubscribe_rate",
    },
    "workflow_executions": {"id", "workflow_name", "status", "created_at"},
    "workflow_errors": {"id", "workflow_name", "error_message", "created_at"},
}


@pytest.fixture
def empty_db(pg_server):
    name = "nurture_test_empty_schema"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg.dsn(name)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql client not installed")
def test_schema_files_apply_in_name_order_with_psql_twice(empty_db):
    for _ in range(2):  # idempotent: a second application changes nothing and fails nothing
        for path in sorted(SCHEMA_DIR.glob("*.sql")):
            subprocess.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1", empty_db, "-f", str(path)],
                check=True,
                capture_output=True,
            )
    with psycopg.connect(empty_db) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, is_nullable, column_default, is_identity FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    by_table: dict[str, set[str]] = {}
    for table, column, *_ in columns:
        by_table.setdefault(table, set()).add(column)
    for table, required in CONTRACT.items():
        assert required <= by_table.get(table, set()), (
            f"{table} lacks {required - by_table.get(table, set())}"
        )
    for table, column, nullable, default, identity in columns:
        if column == "id":
            assert default or identity == "YES", f"{table}.id has no database default"
        elif table in CONTRACT and column not in CONTRACT[table] and nullable == "NO":
            assert default is not None, f"{table}.{column} is beyond the contract: nullable or defaulted"


def test_every_id_has_a_default_so_a_minimal_insert_works(empty_db):
    pg.apply_schema(empty_db.rsplit("/", 1)[1])
    with psycopg.connect(empty_db) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('o') RETURNING id").fetchone()[0]
        campaign = conn.execute(
            "INSERT INTO nurture_campaigns (organization_id, campaign_name) VALUES (%s, 'c') RETURNING id",
            (org,),
        ).fetchone()[0]
        lead = conn.execute(
            "INSERT INTO leads (organization_id) VALUES (%s) RETURNING id", (org,)
        ).fetchone()[0]
        send = conn.execute(
            "INSERT INTO email_sends (organization_id, lead_id, campaign_id) VALUES (%s, %s, %s) RETURNING id",
            (org, lead, campaign),
        ).fetchone()[0]
        conn.execute("INSERT INTO email_events (email_send_id, event_type) VALUES (%s, 'open')", (send,))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO email_sends (organization_id, lead_id, campaign_id, send_status) VALUES (%s, %s, %s, 'lost')",
                (org, lead, campaign),
            )


def test_embedded_postgres_start_is_idempotent_and_local_only(pg_server):
    assert pg.is_running()
    assert pg.start() == pg_server  # a second call finds it running
    with psycopg.connect(pg.dsn()) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert listen == "127.0.0.1"
