"""Test data on the one row builder, dev/rows.py (fixtures `seed`, `rows`, `seeded_sends` and
`seeded_enrollments` in tests/conftest.py).

    seed = Seed(db)                       # db: a psycopg connection (autocommit or not)
    org = seed.org("Acme")
    camp = seed.campaign(org, "Welcome")
    lead = seed.lead(org)                 # name/email default to unique values
    enr = seed.enrollment(lead, camp, next_send_at=T)
    send = seed.send(lead, camp, sent_at=T, status="sent", opened_at=T)
    seed.event(send, "open", at=T)

Every timestamp defaults to a fixed instant (BASE_TIME for Seed, EPOCH for Rows), never to the
database's now(), so a test's numbers do not depend on when it runs. Each method returns the new
row's id; dev/rows.py documents the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from dev.rows import Builder

BASE_TIME = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def at(day: date | str, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An instant on a UTC day: at("2026-05-03", 23, 59, 59)."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def utc(text: str) -> datetime:
    """utc("2026-11-02 12:00:30") -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seed(Builder):
    """The builder with BASE_TIME for every omitted timestamp."""

    def __init__(self, conn, *, now: datetime = BASE_TIME):
        super().__init__(conn, now=now)


# --------------------------------------------------------------------------- review and audit

EPOCH = utc("2026-01-01 00:00")


class Rows(Builder):
    """The review and audit tests' spelling: sends and enrollments by organization, each with a
    lead of its own unless one is given; a send's created_at defaults to when it was due."""

    def __init__(self, conn):
        super().__init__(conn, now=EPOCH)

    def send(self, org, campaign, *, due: datetime, lead=None, created_at=None, **columns: Any) -> int:
        lead = self.lead(org) if lead is None else lead
        return super().send(
            lead, campaign, org_id=org, scheduled_at=due, created_at=created_at or due, **columns
        )

    def enrollment(self, org, campaign, *, created_at: datetime, **columns: Any) -> int:
        return super().enrollment(self.lead(org), campaign, org_id=org, created_at=created_at, **columns)


# --------------------------------------------------------------------------- archive and cleanup

# The archive tests' clock: data ages are relative to it, never to the wall clock.
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


def _base(conn: psycopg.Connection) -> tuple[Seed, Seeded]:
    seed = Seed(conn, now=NOW)
    org_id = seed.org("Acme")
    campaign_id = seed.campaign(org_id, "Welcome")
    lead_ids = [seed.lead(org_id) for _ in range(3)]
    return seed, Seeded(org_id=str(org_id), campaign_id=campaign_id, lead_ids=lead_ids)


def seed_sends(conn: psycopg.Connection, *, old: int, recent: int) -> Seeded:
    """`old` sends created 400+ days before NOW (0, 1, 2, 3, 0, ... events), `recent` sends 10 days old
    (2 events each). Send ids are shuffled between old and recent so batches by id interleave."""
    seed, seeded = _base(conn)
    kinds = ["delivered", "open", "click", "open"]
    for i in range(old + recent):
        recent_turn = i % 4 == 3 and len(seeded.recent_send_ids) < recent
        is_old = not recent_turn and len(seeded.old_send_ids) < old
        created = NOW - timedelta(days=400 if is_old else 10) + timedelta(hours=i)
        send_id = seed.send(
            seeded.lead_ids[i % 3],
            seeded.campaign_id,
            created_at=created,
            sent_at=created + timedelta(seconds=30),
            sendgrid_message_id=f"sg-{i}",
        )
        n_events = len(seeded.old_send_ids) % 4 if is_old else 2
        (seeded.old_send_ids if is_old else seeded.recent_send_ids).append(send_id)
        for k in range(n_events):
            # The last event of a send with 3 events happened recently: an old email opened again.
            event_at = NOW - timedelta(days=2) if k == 2 else created + timedelta(minutes=k)
            seed.event(send_id, kinds[k], at=event_at, event_hash=f"h-{send_id}-{k}", payload={"n": k})
        seeded.events_by_send[send_id] = n_events
    return seeded


def seed_enrollments(conn: psycopg.Connection, *, completed_old: int) -> Seeded:
    """`completed_old` enrollments completed 120 days before NOW, plus ones that must stay:
    completed 30 days ago, active, paused, and completed with no completed_at."""
    seed, seeded = _base(conn)

    def enroll(status: str, completed_at: datetime | None, i: int) -> int:
        return seed.enrollment(
            seeded.lead_ids[i % 3],
            seeded.campaign_id,
            status=status,
            current_step=i % 5,
            completion_reason="finished" if status == "completed" else None,
            created_at=NOW - timedelta(days=200),
            completed_at=completed_at,
        )

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
