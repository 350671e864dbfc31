"""Rows for the archive, cleanup and index-maintenance tests (real PostgreSQL, see tests/conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

# The run's clock: data ages are relative to it, never to the wall clock.
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@dataclass
class Seeded:
    org_id: str
    campaign_id: int
    lead_ids: list[int]
    old_send_ids: list[int] = field(default_factory=list)
    recent_send_ids: list[int] = field(default_factory=list)
    events_by_send: dict[int, int] = field(default_factory=dict)
    completed_old_ids: list[int] = field(default_factory=list)
    other_enrollment_ids: list[int] = field(default_factory=list)

    @property
    def old_event_count(self) -> int:
        return sum(self.events_by_send[s] for s in self.old_send_ids)

    @property
    def recent_event_count(self) -> int:
        return sum(self.events_by_send[s] for s in self.recent_send_ids)


def _base(conn: psycopg.Connection) -> Seeded:
    org_id = conn.execute("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id").fetchone()[0]
    campaign_id = conn.execute(
        "INSERT INTO nurture_campaigns (organization_id, campaign_name) VALUES (%s, 'Welcome') RETURNING id",
        (org_id,),
    ).fetchone()[0]
    lead_ids = [
        conn.execute(
            "INSERT INTO leads (organization_id, name, email) VALUES (%s, %s, %s) RETURNING id",
            (org_id, f"Lead {i}", f"lead{i}@example.com"),
        ).fetchone()[0]
        for i in range(3)
    ]
    return Seeded(org_id=str(org_id), campaign_id=campaign_id, lead_ids=lead_ids)


def _insert_send(conn, seeded: Seeded, created_at: datetime, i: int) -> int:
    return conn.execute(
        """
        INSERT INTO email_sends (organization_id, lead_id, campaign_id, send_status, scheduled_send_time,
                                 actual_send_time, sendgrid_message_id, created_at, updated_at)
        VALUES (%s, %s, %s, 'sent', %s, %s, %s, %s, %s) RETURNING id
        """,
        (
            seeded.org_id,
            seeded.lead_ids[i % 3],
            seeded.campaign_id,
            created_at,
            created_at + timedelta(seconds=30),
            f"sg-{i}",
            created_at,
            created_at,
        ),
    ).fetchone()[0]


def _insert_events(conn, send_id: int, count: int, first_at: datetime) -> None:
    kinds = ["delivered", "open", "click", "open"]
    for k in range(count):
        # The last event of a send with 3 events happened recently: an old email opened again.
        at = NOW - timedelta(days=2) if k == 2 else first_at + timedelta(minutes=k)
        conn.execute(
            "INSERT INTO email_events (email_send_id, event_type, event_timestamp, event_hash, payload,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (send_id, kinds[k], at, f"h-{send_id}-{k}", json.dumps({"n": k}), at),
        )


def seed_sends(conn: psycopg.Connection, *, old: int, recent: int) -> Seeded:
    """`old` sends created 400+ days before NOW (0, 1, 2, 3, 0, ... events), `recent` sends 10 days old
    (2 events each). Send ids are shuffled between old and recent so batches by id interleave."""
    seeded = _base(conn)
    for i in range(old + recent):
        recent_turn = i % 4 == 3 and len(seeded.recent_send_ids) < recent
        if not recent_turn and len(seeded.old_send_ids) < old:
            created = NOW - timedelta(days=400) + timedelta(hours=i)
            send_id = _insert_send(conn, seeded, created, i)
            n_events = len(seeded.old_send_ids) % 4
            seeded.old_send_ids.append(send_id)
        else:
            created = NOW - timedelta(days=10) + timedelta(hours=i)
            send_id = _insert_send(conn, seeded, created, i)
            n_events = 2
            seeded.recent_send_ids.append(send_id)
        _insert_events(conn, send_id, n_events, created)
        seeded.events_by_send[send_id] = n_events
    return seeded


def seed_enrollments(conn: psycopg.Connection, *, completed_old: int) -> Seeded:
    """`completed_old` enrollments completed 120 days before NOW, plus ones that must stay:
    completed 30 days ago, active, paused, and completed with no completed_at."""
    seeded = _base(conn)

    def enroll(status: str, completed_at: datetime | None, i: int) -> int:
        return conn.execute(
            "INSERT INTO lead_campaign_enrollments (organization_id, campaign_id, lead_id, status,"
            " current_step, completion_reason, created_at, completed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                seeded.org_id,
                seeded.campaign_id,
                seeded.lead_ids[i % 3],
                status,
                i % 5,
                "finished" if status == "completed" else None,
                NOW - timedelta(days=200),
                completed_at,
            ),
        ).fetchone()[0]

    for i in range(completed_old):
        seeded.completed_old_ids.append(enroll("completed", NOW - timedelta(days=120, hours=i), i))
        if i % 3 == 0:
            seeded.other_enrollment_ids.append(enroll("completed", NOW - timedelta(days=30), i))
        if i % 4 == 0:
            seeded.other_enrollment_ids.append(enroll("active", None, i))
    seeded.other_enrollment_ids.append(enroll("paused", None, 1))
    seeded.other_enrollment_ids.append(enroll("completed", None, 2))
    return seeded


def rows(conn: psycopg.Connection, table: str) -> dict[int, dict]:
    """Every row of a table as {id: row as JSON}, archive bookkeeping columns left out."""
    exists = conn.execute("SELECT TO_REGCLASS(%s) IS NOT NULL", (table,)).fetchone()[0]
    if not exists:
        return {}
    result = conn.execute(
        f"SELECT id, TO_JSONB(t) - 'archived_at' - 'archive_run_id' FROM {table} AS t"
    ).fetchall()
    return {r[0]: r[1] for r in result}


def archive_run_ids(conn: psycopg.Connection, table: str) -> dict[str, int]:
    return dict(
        conn.execute(f"SELECT archive_run_id, COUNT(*) FROM {table} GROUP BY archive_run_id").fetchall()
    )


@pytest.fixture
def seeded_sends(db) -> Seeded:
    return seed_sends(db, old=23, recent=7)


@pytest.fixture
def seeded_enrollments(db) -> Seeded:
    return seed_enrollments(db, completed_old=17)
