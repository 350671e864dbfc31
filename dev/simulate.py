"""Live traffic for the lead-nurture database, with incidents (never used by a deployment).

    python -m dev.simulate --dsn DSN [--rate 70] [--incident-every 20] [--tick 15]
                           [--duration SECONDS] [--seed N]

Every tick it plays the N8n workflows for the time elapsed since the previous tick, stamping
rows with the wall clock: the Message Scheduler turns due (then random) active enrollments into
queued sends at --rate per minute, the Email Sender sends the queued ones it owns (sent, ~0.5%
failed, ~1.5% bounced) with their delivered/bounce events, the Event Tracker delivers opens,
clicks and the odd unsubscribe a few minutes later, and each workflow writes a
workflow_executions row per minute (the Event Tracker every five). Sends queued before the
simulator started (e.g. the seed's stuck queue) are left alone.

Every --incident-every minutes (0: never) one incident starts, in turn:
  failure_spike      30% of sends fail with SendGrid 429/401 for 5-15 minutes
  sender_stopped     no Email Sender executions; new sends stay queued (16-20 minutes)
  scheduler_stopped  no Message Scheduler executions, no new sends (16-20 minutes)
then recovery (the sender drains its backlog at up to max(2 x rate, 100) per minute). Stops
last a little longer than the runbook's 15-minute "workflow stopped" threshold so the check can
see them. One log line per tick; SIGTERM/SIGINT end the run cleanly; a database that is briefly
unavailable is logged and retried on the next tick. New rows are built and inserted (executemany)
by dev/rows.py, the one row builder the seed and the tests use too.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from dev import rows
from dev.seed import (
    EVENT_TRACKER,
    HARD_BOUNCE,
    SCHEDULER,
    SENDER,
    SOFT_BOUNCES,
    SPIKE_FAILURE_REASONS,
    UNSUBSCRIBE_REASONS,
    USER_AGENTS,
)

INCIDENTS = ("failure_spike", "sender_stopped", "scheduler_stopped")
INCIDENT_MINUTES = {"failure_spike": (5, 15), "sender_stopped": (16, 20), "scheduler_stopped": (16, 20)}
FAIL_RATE, SPIKE_FAIL_RATE, BOUNCE_RATE, SOFT_SHARE = 0.005, 0.30, 0.015, 0.7
OPEN_RATE, CLICK_GIVEN_OPEN, UNSUBSCRIBE_GIVEN_OPEN = 0.35, 0.17, 0.006
BASELINE_FAILURE_REASONS = ("SendGrid 500 Internal Server Error", "SendGrid 503 Service Unavailable")
MAX_CATCH_UP = timedelta(minutes=5)
POOL_REFRESH = timedelta(minutes=10)
EXECUTION_PERIOD = {
    SCHEDULER: timedelta(minutes=1),
    SENDER: timedelta(minutes=1),
    EVENT_TRACKER: timedelta(minutes=5),
}


@dataclass
class Incident:
    kind: str
    started: datetime
    ends: datetime


@dataclass(order=True)
class PendingEvent:
    """An engagement event SendGrid will report later (open, click, unsubscribe)."""

    ts: datetime
    send_id: int = field(compare=False)
    event_type: str = field(compare=False)
    base: dict[str, Any] = field(compare=False)  # the send's webhook_payload() arguments


def _fmt(ts: datetime) -> str:
    return ts.strftime("%H:%M:%S")


class Simulator:
    def __init__(
        self,
        dsn: str,
        *,
        rate: float = 70.0,
        incident_every: float = 20.0,
        tick: float = 15.0,
        rng: random.Random | None = None,
        log: Callable[[str], None] = print,
    ):
        self.dsn = dsn
        self.rate = rate
        self.incident_every = incident_every
        self.tick = tick
        self.rng = rng or random.Random()
        self.log = log
        self.conn: psycopg.Connection | None = None
        self.started_at: datetime | None = None
        self.last_tick: datetime | None = None
        self.carry = 0.0
        self.pending: list[PendingEvent] = []
        self.items = {SCHEDULER: 0, SENDER: 0, EVENT_TRACKER: 0}
        self.failures_since_execution: list[str] = []
        self.next_run: dict[str, datetime] = {}
        self.incident: Incident | None = None
        self.next_incident_at: datetime | None = None
        self.incident_count = 0
        self.history: list[Incident] = []  # every incident started, in order
        self.pool: list[tuple] = []
        self.pool_loaded_at: datetime | None = None
        self.totals = {"ticks": 0, "scheduled": 0, "sent": 0, "failed": 0, "bounced": 0, "events": 0}
        self._stop = threading.Event()

    # ------------------------------------------------------------------ connection
    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.dsn, connect_timeout=5)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    # ------------------------------------------------------------------ incidents
    def _running(self, workflow: str) -> bool:
        kind = self.incident.kind if self.incident else None
        return not (
            (workflow == SENDER and kind == "sender_stopped")
            or (workflow == SCHEDULER and kind == "scheduler_stopped")
        )

    def _update_incident(self, now: datetime) -> None:
        if self.incident and now >= self.incident.ends:
            minutes = (now - self.incident.started).total_seconds() / 60
            self.log(f"{now:%Y-%m-%dT%H:%M:%SZ} RECOVERED {self.incident.kind} after {minutes:.1f} min")
            self.incident = None
        if self.incident or self.incident_every <= 0:
            return
        if self.next_incident_at is None:
            self.next_incident_at = now + timedelta(minutes=self.incident_every)
        if now < self.next_incident_at:
            return
        kind = INCIDENTS[self.incident_count % len(INCIDENTS)]
        self.incident_count += 1
        lo, hi = INCIDENT_MINUTES[kind]
        length = timedelta(seconds=self.rng.randint(lo * 60, hi * 60))
        self.incident = Incident(kind, now, now + length)
        self.history.append(self.incident)
        self.next_incident_at = max(now + timedelta(minutes=self.incident_every), self.incident.ends)
        what = {
            "failure_spike": "30% of sends fail (SendGrid 429 Too Many Requests / 401 Unauthorized)",
            "sender_stopped": f"'{SENDER}' stopped: no executions, sends stay queued",
            "scheduler_stopped": f"'{SCHEDULER}' stopped: no executions, no new sends",
        }[kind]
        self.log(
            f"{now:%Y-%m-%dT%H:%M:%SZ} INCIDENT {kind}: {what} "
            f"for {length.total_seconds() / 60:.1f} min (until {_fmt(self.incident.ends)})"
        )

    # ------------------------------------------------------------------ one tick
    def step(self, now: datetime) -> str:
        """Simulate the interval since the previous tick up to `now`; one transaction. On a
        database error the in-memory state is rolled back with it and the error re-raised."""
        if self.started_at is None:
            self.started_at = now
        self._update_incident(now)
        snapshot = (
            self.last_tick,
            self.carry,
            dict(self.items),
            list(self.failures_since_execution),
            dict(self.next_run),
            list(self.pending),
        )
        try:
            conn = self._connection()
            with conn.transaction():
                stats = self._step(conn, now)
        except Exception:
            (
                self.last_tick,
                self.carry,
                self.items,
                self.failures_since_execution,
                self.next_run,
                self.pending,
            ) = snapshot
            self.pool_loaded_at = None
            raise
        self.totals["ticks"] += 1
        for key in ("scheduled", "sent", "failed", "bounced", "events"):
            self.totals[key] += stats[key]
        incident = f"{self.incident.kind} until {_fmt(self.incident.ends)}" if self.incident else "none"
        return (
            f"{now:%Y-%m-%dT%H:%M:%SZ} tick: +{stats['scheduled']} queued, {stats['sent']} sent, "
            f"{stats['failed']} failed, {stats['bounced']} bounced, {stats['events']} events, "
            f"{stats['executions']} executions, queue {stats['queue']} | incident: {incident}"
        )

    def _step(self, conn: psycopg.Connection, now: datetime) -> dict[str, int]:
        start = self.last_tick or now - timedelta(seconds=self.tick)
        start = max(start, now - MAX_CATCH_UP)
        stats = {"scheduled": 0, "sent": 0, "failed": 0, "bounced": 0, "events": 0, "executions": 0}
        if self.pool_loaded_at is None or now - self.pool_loaded_at >= POOL_REFRESH:
            self._load_pool(conn, now)
        if self._running(SCHEDULER):
            stats["scheduled"] = self._schedule(conn, start, now)
        else:
            self.carry = 0.0
        if self._running(SENDER):
            sent, failed, bounced, events = self._send(conn, start, now)
            stats.update(sent=sent, failed=failed, bounced=bounced)
            stats["events"] += events
        stats["events"] += self._track_events(conn, now)
        stats["executions"] = self._executions(conn, now)
        stats["queue"] = conn.execute(
            "SELECT COUNT(*) FROM email_sends WHERE send_status = 'queued' AND scheduled_send_time >= %s",
            (self.started_at - timedelta(minutes=10),),
        ).fetchone()[0]
        self.last_tick = now
        return stats

    def _load_pool(self, conn: psycopg.Connection, now: datetime) -> None:
        self.pool = conn.execute(
            """
            SELECT e.id, e.organization_id, e.campaign_id, e.lead_id, l.email
            FROM lead_campaign_enrollments AS e
            INNER JOIN leads AS l ON l.id = e.lead_id
            WHERE e.status = 'active' AND l.email IS NOT NULL
            ORDER BY e.id
            """
        ).fetchall()
        if not self.pool:
            raise RuntimeError(
                "no active enrollments with an email: seed the database first (python -m dev.seed)"
            )
        self.pool_loaded_at = now

    # ------------------------------------------------------------------ Message Scheduler
    def _schedule(self, conn: psycopg.Connection, start: datetime, now: datetime) -> int:
        wanted = self.rate * (now - start).total_seconds() / 60 + self.carry
        count = int(wanted)
        self.carry = wanted - count
        if count == 0:
            return 0
        due = conn.execute(
            """
            SELECT e.id, e.organization_id, e.campaign_id, e.lead_id, l.email
            FROM lead_campaign_enrollments AS e
            INNER JOIN leads AS l ON l.id = e.lead_id
            WHERE e.status = 'active' AND e.next_send_at <= %s
            ORDER BY e.next_send_at
            LIMIT %s
            FOR UPDATE OF e SKIP LOCKED
            """,
            (now, count),
        ).fetchall()
        skipped = [row for row in due if row[4] is None]  # nobody to send to: just move on
        picked = [row for row in due if row[4] is not None]
        picked += [self.rng.choice(self.pool) for _ in range(count - len(picked))]
        span = (now - start).total_seconds()
        times = sorted(start + timedelta(seconds=self.rng.uniform(0, span)) for _ in picked)
        rows.insert_many(
            conn,
            (
                rows.send(org, lead, campaign, enrollment_id=enrollment, status="queued", created_at=t)
                for (enrollment, org, campaign, lead, _), t in zip(picked, times, strict=True)
            ),
        )
        advanced = picked + skipped
        conn.execute(
            """
            UPDATE lead_campaign_enrollments AS e
            SET current_step = e.current_step + 1, next_send_at = v.next_send_at, updated_at = %s
            FROM UNNEST(%s::bigint[], %s::timestamptz[]) AS v (id, next_send_at)
            WHERE e.id = v.id AND e.status = 'active'
            """,
            (
                now,
                [row[0] for row in advanced],
                [now + timedelta(seconds=self.rng.randint(3600, 3 * 86400)) for _ in advanced],
            ),
        )
        self.items[SCHEDULER] += len(advanced)
        return len(picked)

    # ------------------------------------------------------------------ Email Sender
    def _send(self, conn: psycopg.Connection, start: datetime, now: datetime) -> tuple[int, int, int, int]:
        capacity = max(2 * self.rate, 100.0)
        cap = max(10, math.ceil(capacity * (now - start).total_seconds() / 60))
        queued = conn.execute(
            """
            SELECT es.id, es.scheduled_send_time, es.lead_id, es.campaign_id, l.email
            FROM email_sends AS es
            INNER JOIN leads AS l ON l.id = es.lead_id
            WHERE es.send_status = 'queued'
              AND es.scheduled_send_time >= %s
              AND es.scheduled_send_time <= %s
            ORDER BY es.scheduled_send_time
            LIMIT %s
            FOR UPDATE OF es SKIP LOCKED
            """,
            (self.started_at - timedelta(minutes=10), now - timedelta(seconds=3), cap),
        ).fetchall()
        spike = self.incident is not None and self.incident.kind == "failure_spike"
        fail_rate = SPIKE_FAIL_RATE if spike else FAIL_RATE
        updates: list[tuple] = []
        events: list[rows.Row] = []
        sent = failed = bounced = 0
        span = (now - start).total_seconds()
        for send_id, scheduled, lead_id, campaign_id, email in queued:
            # Sent during this tick, 5-40 s after it was due at the earliest (later for a backlog).
            picked_up = start + timedelta(seconds=self.rng.uniform(0, span))
            earliest = scheduled + timedelta(seconds=self.rng.randint(5, 40))
            actual = min(max(earliest, picked_up), now)
            roll = self.rng.random()
            if roll < fail_rate:
                reasons = SPIKE_FAILURE_REASONS if spike else BASELINE_FAILURE_REASONS
                reason = self.rng.choices(reasons, weights=(3, 1))[0]
                updates.append((send_id, "failed", None, reason, None, None))
                self.failures_since_execution.append(reason)
                failed += 1
                continue
            msg_id = rows.sendgrid_id(self.rng)
            base = {
                "email": email,
                "msg_id": msg_id,
                "sg_message_id": rows.sendgrid_message_id(msg_id, self.rng.getrandbits(32)),
                "email_send_id": send_id,
                "lead_id": lead_id,
                "campaign_id": campaign_id,
            }
            ts = min(actual + timedelta(seconds=self.rng.randint(1, 5)), now)
            if roll < fail_rate + BOUNCE_RATE:
                hard = self.rng.random() >= SOFT_SHARE
                status, reason = HARD_BOUNCE if hard else self.rng.choice(SOFT_BOUNCES)
                extra = {"type": "bounce" if hard else "blocked", "status": status, "reason": reason}
                updates.append((send_id, "bounced", actual, None, "hard" if hard else "soft", msg_id))
                events.append(self._event_row(send_id, "bounce", ts, now, base, extra))
                bounced += 1
                continue
            updates.append((send_id, "sent", actual, None, None, msg_id))
            events.append(self._event_row(send_id, "delivered", ts, now, base, {"response": "250 2.0.0 OK"}))
            sent += 1
            if self.rng.random() < OPEN_RATE:
                opened = actual + timedelta(seconds=min(int(self.rng.expovariate(1 / 480)) + 20, 7200))
                heapq.heappush(self.pending, PendingEvent(opened, send_id, "open", base))
                if self.rng.random() < CLICK_GIVEN_OPEN:
                    clicked = opened + timedelta(seconds=self.rng.randint(5, 300))
                    heapq.heappush(self.pending, PendingEvent(clicked, send_id, "click", base))
                if self.rng.random() < UNSUBSCRIBE_GIVEN_OPEN:
                    left = opened + timedelta(seconds=self.rng.randint(30, 600))
                    kind = self.rng.choice(("unsubscribe", "group_unsubscribe"))
                    heapq.heappush(self.pending, PendingEvent(left, send_id, kind, base))
        if updates:
            conn.execute(
                """
                UPDATE email_sends AS es
                SET send_status = v.status, actual_send_time = v.actual, failure_reason = v.reason,
                    bounce_type = v.bounce_type, sendgrid_message_id = v.msg_id, updated_at = %s
                FROM UNNEST(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[])
                    AS v (id, status, actual, reason, bounce_type, msg_id)
                WHERE es.id = v.id
                """,
                (now, *map(list, zip(*updates, strict=True))),
            )
        self._insert_events(conn, events)
        self.items[SENDER] += len(queued)
        return sent, failed, bounced, len(events)

    # ------------------------------------------------------------------ Event Tracker
    def _track_events(self, conn: psycopg.Connection, now: datetime) -> int:
        due: list[PendingEvent] = []
        while self.pending and self.pending[0].ts <= now:
            due.append(heapq.heappop(self.pending))
        if not due:
            return 0
        events = []
        for item in due:
            extra: dict[str, Any] = {}
            if item.event_type in ("open", "click"):
                extra = {
                    "useragent": self.rng.choice(USER_AGENTS),
                    "ip": f"203.0.113.{self.rng.randint(1, 254)}",
                }
                if item.event_type == "click":
                    extra["url"] = (
                        f"https://nurture.example/offers/{item.base['campaign_id']}?utm_source=nurture"
                    )
            else:
                extra = {"reason": self.rng.choice(UNSUBSCRIBE_REASONS)}
            events.append(self._event_row(item.send_id, item.event_type, item.ts, now, item.base, extra))
        self._insert_events(conn, events)
        for column, kind in (("opened_at", "open"), ("first_click_at", "click")):
            pairs = [(item.send_id, item.ts) for item in due if item.event_type == kind]
            if pairs:
                conn.execute(
                    f"""
                    UPDATE email_sends AS es
                    SET {column} = LEAST(COALESCE(es.{column}, v.ts), v.ts), updated_at = %s
                    FROM UNNEST(%s::bigint[], %s::timestamptz[]) AS v (id, ts)
                    WHERE es.id = v.id
                    """,
                    (now, [p[0] for p in pairs], [p[1] for p in pairs]),
                )
        left = [item.send_id for item in due if item.event_type in ("unsubscribe", "group_unsubscribe")]
        if left:
            conn.execute(
                """
                UPDATE lead_campaign_enrollments AS e
                SET status = 'completed', completion_reason = 'unsubscribed', completed_at = %s,
                    next_send_at = NULL, updated_at = %s
                FROM email_sends AS es
                WHERE es.enrollment_id = e.id AND es.id = ANY(%s) AND e.status <> 'completed'
                """,
                (now, now, left),
            )
        return len(events)

    def _event_row(
        self, send_id: int, event_type: str, ts: datetime, now: datetime, base: dict, extra: dict
    ) -> rows.Row:
        ts = ts.replace(microsecond=0)
        unix_ts = int(ts.timestamp())
        payload = rows.webhook_payload(
            event_type, unix_ts, sg_event_id=rows.sendgrid_id(self.rng), **base, **extra
        )
        return rows.event(
            send_id,
            event_type,
            at=ts,
            created_at=now,
            event_hash=rows.event_hash(send_id, event_type, unix_ts),
            payload=payload,
        )

    def _insert_events(self, conn: psycopg.Connection, events: list[rows.Row]) -> None:
        rows.insert_many(conn, events)
        self.items[EVENT_TRACKER] += len(events)

    # ------------------------------------------------------------------ workflow_executions
    def _executions(self, conn: psycopg.Connection, now: datetime) -> int:
        written = 0
        for workflow, period in EXECUTION_PERIOD.items():
            next_run = self.next_run.get(workflow, now)
            if now < next_run or not self._running(workflow):
                continue
            items = self.items[workflow]
            status, errors = "success", []
            if workflow == SENDER and self.failures_since_execution:
                counts: dict[str, int] = {}
                for reason in self.failures_since_execution:
                    counts[reason] = counts.get(reason, 0) + 1
                if len(self.failures_since_execution) >= 3 or any(r in SPIKE_FAILURE_REASONS for r in counts):
                    status = "error"
                    errors = [
                        f"{reason} (x{n}) POST https://api.sendgrid.com/v3/mail/send"
                        for reason, n in counts.items()
                    ]
                self.failures_since_execution = []
            per_item = {SCHEDULER: 35, SENDER: 180, EVENT_TRACKER: 20}[workflow]
            duration = self.rng.randint(150, 900) + items * per_item
            execution_id = rows.insert(
                conn, rows.execution(workflow, status=status, items=items, duration_ms=duration, at=now)
            )
            rows.insert_many(
                conn,
                (
                    rows.workflow_error(
                        workflow, execution_id=execution_id, node_name="Send via SendGrid", message=m, at=now
                    )
                    for m in errors
                ),
            )
            self.items[workflow] = 0
            # The next run is a period later; after an outage or a stop, a period from now.
            self.next_run[workflow] = next_run + period if next_run + period > now else now + period
            written += 1
        return written

    # ------------------------------------------------------------------ main loop
    def stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self, duration: float | None = None, clock: Callable[[], datetime] | None = None) -> None:
        clock = clock or (lambda: datetime.now(UTC))
        began = time.monotonic()
        self.log(
            f"dev.simulate: rate {self.rate:g}/min, tick {self.tick:g}s, incident every "
            f"{self.incident_every:g} min{'' if duration is None else f', for {duration:g}s'}"
        )
        while not self._stop.is_set():
            now = clock()
            try:
                self.log(self.step(now))
            except psycopg.OperationalError as exc:
                self.close()
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.log(
                    f"{now:%Y-%m-%dT%H:%M:%SZ} database unavailable ({reason}); retrying in {self.tick:g}s"
                )
            except (psycopg.Error, RuntimeError) as exc:
                self.close()
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.log(f"{now:%Y-%m-%dT%H:%M:%SZ} tick failed ({type(exc).__name__}: {reason}); retrying")
            remaining = None if duration is None else duration - (time.monotonic() - began)
            if remaining is not None and remaining <= 0:
                break
            self._stop.wait(self.tick if remaining is None else min(self.tick, remaining))
        self.close()
        t = self.totals
        self.log(
            f"dev.simulate: stopped after {t['ticks']} ticks: {t['scheduled']} scheduled, {t['sent']} sent, "
            f"{t['failed']} failed, {t['bounced']} bounced, {t['events']} events"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="libpq URI of the lead-nurture database")
    parser.add_argument("--rate", type=float, default=70.0, help="sends per minute (default 70)")
    parser.add_argument(
        "--incident-every", type=float, default=20.0, help="minutes between incidents (0: none)"
    )
    parser.add_argument("--tick", type=float, default=15.0, help="seconds between ticks (default 15)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed the random generator (default: random)")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    simulator = Simulator(
        args.dsn,
        rate=args.rate,
        incident_every=args.incident_every,
        tick=args.tick,
        rng=random.Random(args.seed),
        log=log,
    )
    signal.signal(signal.SIGTERM, simulator.stop)
    signal.signal(signal.SIGINT, simulator.stop)
    simulator.run(duration=args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
