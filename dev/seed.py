"""Demo data for the lead-nurture database: a realistic baseline plus the anomalies the runbook's
checks must find (never used by a deployment).

    python -m dev.seed --dsn DSN [--seed 42] [--now 2026-11-29T14:37:00Z] [--if-empty] [--reset]

`seed(conn, seed=42, now=...)` writes every table of dev.rows.TABLES in one transaction (rows
built and COPYed by dev/rows.py) and returns a manifest (row counts per table and, for every planted anomaly, the ids, names and numbers a check
should report). The content is a pure function of (seed, now): one `random.Random(seed)`, every
timestamp relative to `now` (default: the current UTC time floored to the minute), ids assigned
in creation order and the identity sequences reset afterwards so later inserts without ids work.

Time anchors: `today` = now's UTC date at 00:00, `yesterday` = [today - 1 day, today). Anomalies
(manifest["anomalies"]):
 1 failure_spike         [now-5min, now): >= 60 sends, ~30% failed (SendGrid 429/401), one org
 2 workflow_stopped      the Message Scheduler's last execution is before now-35min
 3 stuck_queue           25 sends queued, scheduled in [now-3h, now-70min]
 4 bounces               yesterday: one campaign (an imported list) pushes the bounce rate > 5%
 5 duplicate_events      yesterday: 40 rows repeat an event_hash, 10 repeat only the sg_event_id
 6 missing_personalization  12 leads without name, 3 without email, active enrollments, 4 orgs
 7 low_engagement        one campaign's sends yesterday: open rate ~10%, click rate ~1%
 8 high_unsubscribe      yesterday's unsubscribes > 1% of sends (that campaign's org and overall)
 9 missing_analytics     campaign_analytics for today-8 .. today-2 except today-4
10 overdue_enrollments   30 active enrollments with next_send_at in [now-2h, now-20min)
Near midnight UTC the recent anomalies (1-3, 10) can spill into yesterday's windows.

Events look like SendGrid webhooks (dev.rows.webhook_payload: the custom args email_send_id,
lead_id, campaign_id) with event_hash = md5('<email_send_id>|<event_type>|<unix timestamp>').
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg import sql

from dev import rows
from dev.rows import IDENTITY_TABLES, TABLES, event_hash

SCHEDULER = "Lead Nurture - Message Scheduler"
SENDER = "Lead Nurture - Email Sender"
EVENT_TRACKER = "Lead Nurture - Event Tracker"
ANALYTICS_UPDATER = "Lead Nurture - Analytics Updater"

ORGANIZATIONS = (
    ("Brightpath Realty", "brightpath-realty.example"),
    ("Northwind Solar", "northwind-solar.example"),
    ("Summit Fitness Co", "summit-fitness.example"),
    ("Harbor Dental Group", "harbor-dental.example"),
)
CAMPAIGN_NAMES = (
    "Welcome Series",
    "Product Education",
    "Re-engagement",
    "Webinar Follow-up",
    "Seasonal Offers",
    "Customer Stories",
)
FIRST_NAMES = (  # noqa: SIM905
    "Olivia Liam Emma Noah Ava Elijah Sophia Lucas Mia Mason Amelia Ethan Harper Logan Evelyn James "
    "Abigail Benjamin Emily Henry Ella Jackson Chloe Sebastian Grace Aiden Zoe Samuel Nora Daniel "
    "Lily Matthew Hannah Owen Aria Leo Priya Mateo Yuki Omar Fatima Chen Ingrid Kofi Lucia Arjun"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Nguyen Patel Kim "
    "Okafor Schmidt Rossi Tanaka Kowalski Silva"
).split()
MAIL_DOMAINS = ("mail.example", "inbox.example", "post.example", "webmail.example")
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Singapore",
)
LEAD_SOURCES = ("webform", "webform", "webform", "landing_page", "referral", "webinar", "chat")
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
)
# Share of a day's sends per UTC hour (leads sit in several timezones, so the day is never quiet).
HOUR_WEIGHTS = (2, 2, 2, 3, 3, 4, 5, 6, 8, 9, 9, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2)

BASELINE_FAILURE_REASONS = (
    "SendGrid 500 Internal Server Error",
    "SendGrid 503 Service Unavailable",
    "ETIMEDOUT: SendGrid API request timed out after 30000ms",
    "SendGrid 400 Bad Request: invalid email address",
)
SPIKE_FAILURE_REASONS = ("SendGrid 429 Too Many Requests", "SendGrid 401 Unauthorized")
HARD_BOUNCE = ("5.1.1", "550 5.1.1 The email account that you tried to reach does not exist.")
SOFT_BOUNCES = (
    ("4.7.0", "421 4.7.0 [TSS04] Messages temporarily deferred due to unexpected volume or user complaints"),
    ("4.2.2", "452 4.2.2 The email account that you tried to reach is over quota."),
    ("5.7.1", "550 5.7.1 Message rejected due to local policy (blocked by recipient's spam filter)"),
)
UNSUBSCRIBE_REASONS = (
    "Too many emails",
    "Content not relevant",
    "No longer interested",
    "Never signed up",
)

DAILY_SENDS = (1600, 2300)
FAIL_RATE, BOUNCE_RATE, SOFT_SHARE = 0.005, 0.015, 0.7
OPEN_RATE, CLICK_RATE = (0.32, 0.40), (0.055, 0.075)
UNSUBSCRIBE_RATE = 0.002
SPIKE_SENDS, SPIKE_FAILURE_SHARE = 64, 0.30
STUCK_SENDS, OVERDUE_ENROLLMENTS = 25, 30
MISSING_NAME, MISSING_EMAIL = 12, 3
LOW_ENGAGEMENT = (0.10, 0.01)
LOW_ENGAGEMENT_UNSUBSCRIBES = 30
EXACT_DUPLICATES, NEAR_DUPLICATES = 40, 10
OLD_ENROLLMENTS = 150
# The imported list that bounces: leads by address quality, and how many get a second send.
BLAST_LEADS = {"invalid": 55, "blocked": 30, "ok": 15}
BLAST_SECOND_SENDS = {"invalid": 20, "blocked": 12, "ok": 8}


# --------------------------------------------------------------------------- model


@dataclass(eq=False)
class Org:
    id: uuid.UUID
    name: str
    domain: str
    created_at: datetime
    campaigns: list[Campaign] = field(default_factory=list)


@dataclass(eq=False)
class Campaign:
    org: Org
    name: str
    created_at: datetime
    id: int = 0


@dataclass(eq=False)
class Lead:
    org: Org
    name: str | None
    email: str | None
    metadata: dict[str, Any]
    created_at: datetime
    kind: str = "normal"  # normal | old | imported | missing_name | missing_email
    id: int = 0


@dataclass(eq=False)
class Enrollment:
    lead: Lead
    campaign: Campaign
    created_at: datetime
    status: str = "active"
    cutoff: datetime | None = None  # no sends at or after this instant (paused / completed)
    completion_reason: str | None = None
    completed_at: datetime | None = None
    next_send_at: datetime | None = None
    updated_at: datetime | None = None
    protected: bool = False  # keeps its planted state (missing data, imported list, overdue)
    current_step: int = 0
    sends: list[Send] = field(default_factory=list)
    id: int = 0

    def last_send(self) -> Send | None:
        return max(self.sends, key=lambda s: s.created_at, default=None)


@dataclass(eq=False)
class Send:
    enrollment: Enrollment
    created_at: datetime
    scheduled: datetime
    delay: int
    tag: str = "baseline"  # baseline | blast | spike | stuck | old
    status: str = "queued"
    actual: datetime | None = None
    attempted_at: datetime | None = None
    failure_reason: str | None = None
    bounce_type: str | None = None
    dropped: bool = False
    msg_id: str | None = None
    sg_message_id: str | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    unsubscribe: tuple[str, datetime, str] | None = None  # (event_type, timestamp, reason)
    updated_at: datetime | None = None
    id: int = 0

    @property
    def campaign(self) -> Campaign:
        return self.enrollment.campaign

    @property
    def lead(self) -> Lead:
        return self.enrollment.lead


@dataclass(eq=False)
class Event:
    send: Send
    event_type: str
    ts: datetime
    created_at: datetime
    payload: dict[str, Any]
    event_hash: str
    id: int = 0


@dataclass(eq=False)
class Execution:
    workflow_name: str
    created_at: datetime
    status: str
    items_processed: int
    duration_ms: int
    id: int = 0


@dataclass(eq=False)
class WorkflowError:
    workflow_name: str
    execution: Execution | None
    node_name: str
    error_message: str
    created_at: datetime
    id: int = 0


def _pct(part: int, whole: int) -> Decimal | None:
    """ROUND(part * 100.0 / NULLIF(whole, 0), 2) as PostgreSQL computes it."""
    if not whole:
        return None
    return (Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _pct_float(part: int, whole: int) -> float | None:
    value = _pct(part, whole)
    return None if value is None else float(value)


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


# --------------------------------------------------------------------------- generator


class _Seeder:
    def __init__(self, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.yesterday = self.today - timedelta(days=1)
        self.orgs: list[Org] = []
        self.campaigns: list[Campaign] = []
        self.leads: list[Lead] = []
        self.enrollments: list[Enrollment] = []
        self.sends: list[Send] = []
        self.events: list[Event] = []
        self.executions: list[Execution] = []
        self.errors: list[WorkflowError] = []
        self.analytics: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}

    # ---- helpers
    def _ago(self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        return (self.now - delta).replace(microsecond=0)

    def _between(self, start: datetime, end: datetime) -> datetime:
        """A whole-second instant in [start, end)."""
        span = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randrange(max(span, 1)))

    def _rround(self, x: float) -> int:
        """Randomised rounding: an unbiased integer count for an expected value x."""
        base = int(x)
        return base + (1 if self.rng.random() < x - base else 0)

    def _time_in_day(self, day_start: datetime) -> datetime:
        hour = self.rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        return day_start + timedelta(hours=hour, seconds=self.rng.randrange(3600))

    # ---- organizations, campaigns, leads, enrollments
    def build_accounts(self) -> None:
        rng = self.rng
        for name, domain in ORGANIZATIONS:
            org = Org(
                uuid.UUID(int=rng.getrandbits(128), version=4),
                name,
                domain,
                self._ago(days=rng.uniform(600, 900)),
            )
            self.orgs.append(org)
        campaign_counts = [3, 2, 3, rng.choice((2, 3))]
        for org, count in zip(self.orgs, campaign_counts, strict=True):
            for cname in rng.sample(CAMPAIGN_NAMES, count):
                campaign = Campaign(org, cname, self._ago(days=rng.uniform(400, 580)))
                org.campaigns.append(campaign)
                self.campaigns.append(campaign)
        self.spike_org = self.orgs[0]
        self.bounce_campaign = self.orgs[1].campaigns[0]
        self.low_campaign = self.orgs[2].campaigns[1]

        used_emails: set[str] = set()

        def make_lead(org: Org, kind: str, created_at: datetime) -> Lead:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            while True:
                if kind == "imported":
                    local = f"{first[0]}{last}{rng.randrange(10, 99)}".lower()
                    email = f"{local}@{rng.choice(('list-import.example', 'expo-leads.example'))}"
                else:
                    suffix = "" if rng.random() < 0.4 else str(rng.randrange(1, 999))
                    email = f"{first}.{last}{suffix}@{rng.choice(MAIL_DOMAINS)}".lower()
                if email not in used_emails:
                    used_emails.add(email)
                    break
            source = "list_import" if kind == "imported" else rng.choice(LEAD_SOURCES)
            metadata: dict[str, Any] = {"source": source, "score": rng.randrange(5, 95)}
            if kind == "imported":
                metadata["list_name"] = "Trade expo attendees (purchased)"
            lead = Lead(org, f"{first} {last}", email, metadata, created_at, kind)
            if kind == "missing_name":
                lead.name = None
            elif kind == "missing_email":
                lead.email = None
            self.leads.append(lead)
            return lead

        # Ordinary leads, a slice of them old enough for last year's sends.
        org_weights = (0.3, 0.25, 0.25, 0.2)
        ordinary: list[Lead] = []
        for _ in range(2900 - OLD_ENROLLMENTS):
            org = rng.choices(self.orgs, weights=org_weights)[0]
            ordinary.append(make_lead(org, "normal", self._ago(days=rng.uniform(11, 360))))
        old_leads = [
            make_lead(
                rng.choices(self.orgs, weights=org_weights)[0], "old", self._ago(days=rng.uniform(445, 500))
            )
            for _ in range(OLD_ENROLLMENTS)
        ]
        # Leads the personalizer cannot fill in, in every organization.
        missing = [
            make_lead(self.orgs[i % 4], "missing_name", self._ago(days=rng.uniform(11, 60)))
            for i in range(MISSING_NAME)
        ] + [
            make_lead(self.orgs[(i + 1) % 4], "missing_email", self._ago(days=rng.uniform(11, 60)))
            for i in range(MISSING_EMAIL)
        ]
        # The purchased list imported the day before yesterday.
        import_time = self.yesterday - timedelta(days=1) + timedelta(hours=rng.randint(13, 17))
        self.blast_quality: dict[Lead, str] = {}
        imported: list[Lead] = []
        for quality, count in BLAST_LEADS.items():
            for _ in range(count):
                lead = make_lead(
                    self.bounce_campaign.org, "imported", import_time + timedelta(seconds=len(imported))
                )
                self.blast_quality[lead] = quality
                imported.append(lead)

        # Enrollments of current leads: one per lead, a second one for some.
        for lead in ordinary + old_leads + missing:
            created = lead.created_at + timedelta(seconds=rng.randrange(86400))
            if lead.kind == "old":
                created = self._ago(days=rng.uniform(11, 120))
            campaign = rng.choice(lead.org.campaigns)
            self._enroll(lead, campaign, created, protected=lead.kind in ("missing_name", "missing_email"))
            if lead.kind == "normal" and rng.random() < 0.12:
                others = [c for c in lead.org.campaigns if c is not campaign]
                later = min(created + timedelta(days=rng.uniform(1, 30)), self._ago(days=9.5)).replace(
                    microsecond=0
                )
                self._enroll(lead, rng.choice(others), max(later, created))
        for lead in imported:
            self._enroll(lead, self.bounce_campaign, lead.created_at + timedelta(minutes=5), protected=True)
        # Sequences that finished long ago (the monthly cleanup's > 90 days).
        self.old_enrollments = []
        for lead in old_leads:
            enrollment = Enrollment(
                lead,
                rng.choice(lead.org.campaigns),
                self._ago(days=rng.uniform(425, 440)),
                status="completed",
            )
            enrollment.completed_at = self._ago(days=rng.uniform(100, 150))
            enrollment.completion_reason = "sequence_finished"
            enrollment.updated_at = enrollment.completed_at
            self.enrollments.append(enrollment)
            self.old_enrollments.append(enrollment)
        self.imported_leads = imported
        self.missing_leads = missing

    def _enroll(self, lead: Lead, campaign: Campaign, created: datetime, *, protected: bool = False) -> None:
        enrollment = Enrollment(lead, campaign, created, protected=protected)
        if not protected:
            roll = self.rng.random()
            if roll < 0.06:
                enrollment.status = "paused"
                enrollment.cutoff = self._ago(days=self.rng.uniform(0.5, 8))
                enrollment.updated_at = enrollment.cutoff
            elif roll < 0.13:
                enrollment.status = "completed"
                enrollment.completion_reason = "sequence_finished"
                enrollment.completed_at = enrollment.cutoff = self._ago(days=self.rng.uniform(0.5, 8))
                enrollment.updated_at = enrollment.completed_at
        self.enrollments.append(enrollment)

    # ---- sends
    def _new_send(self, enrollment: Enrollment, created: datetime, tag: str) -> Send:
        scheduled = created + timedelta(seconds=self.rng.randint(0, 3))
        send = Send(enrollment, created, scheduled, self.rng.randint(5, 40), tag)
        if scheduled + timedelta(seconds=send.delay) < self.now:
            send.status = "sent"
            send.actual = send.attempted_at = scheduled + timedelta(seconds=send.delay)
            send.msg_id = rows.sendgrid_id(self.rng)
        enrollment.sends.append(send)
        self.sends.append(send)
        return send

    def _pick(self, pool: list[Enrollment], t: datetime) -> Enrollment:
        for _ in range(200):
            enrollment = self.rng.choice(pool)
            if enrollment.created_at + timedelta(hours=1) <= t and (
                enrollment.cutoff is None or t < enrollment.cutoff
            ):
                return enrollment
        raise RuntimeError(f"no enrollment can receive a send at {t}")

    def _fail(self, send: Send, reason: str) -> None:
        send.status = "failed"
        send.failure_reason = reason
        send.actual = None
        send.msg_id = None

    def _bounce(self, send: Send, bounce_type: str) -> None:
        send.status = "bounced"
        send.bounce_type = bounce_type

    def _assign_outcomes(
        self,
        group: list[Send],
        *,
        fail_rate: float = FAIL_RATE,
        bounce_rate: float = BOUNCE_RATE,
        open_rate: float | None = None,
        click_rate: float | None = None,
        failure_reasons: tuple[str, ...] = BASELINE_FAILURE_REASONS,
        exact_failures: int | None = None,
    ) -> None:
        """Exact counts per group (so every seed gives the intended rates): failures, bounces,
        then opens and clicks among the delivered sends."""
        rng = self.rng
        n = len(group)
        free = [s for s in group if s.status == "sent" and s.tag != "blast"]
        k_fail = exact_failures if exact_failures is not None else self._rround(n * fail_rate)
        failing = rng.sample(free, min(k_fail, len(free)))
        for i, send in enumerate(failing):
            if failure_reasons is SPIKE_FAILURE_REASONS:  # three 429s for every 401
                self._fail(send, failure_reasons[0] if i % 4 else failure_reasons[1])
            else:
                self._fail(send, rng.choice(failure_reasons))
        free = [s for s in free if s.status == "sent"]
        k_bounce = self._rround(n * bounce_rate)
        for i, send in enumerate(rng.sample(free, min(k_bounce, len(free)))):
            self._bounce(send, "soft" if i < round(k_bounce * SOFT_SHARE) else "hard")
        if open_rate is None:
            open_rate = rng.uniform(*OPEN_RATE)
        if click_rate is None:
            click_rate = rng.uniform(*CLICK_RATE)
        limit = self.now - timedelta(minutes=3)
        delivered = [s for s in group if s.status == "sent" and s.actual < limit]
        opened = rng.sample(delivered, min(round(n * open_rate), len(delivered)))
        for send in opened:
            room = (self.now - timedelta(seconds=90) - send.actual).total_seconds()
            delay = rng.expovariate(1 / 5400)
            if delay > room:
                delay = rng.uniform(20, room)
            send.opened_at = send.actual + timedelta(seconds=max(20, int(delay)))
        clickable = [s for s in opened if s.opened_at < self.now - timedelta(minutes=2)]
        for send in rng.sample(clickable, min(round(n * click_rate), len(clickable))):
            room = (self.now - timedelta(seconds=60) - send.opened_at).total_seconds()
            send.clicked_at = send.opened_at + timedelta(seconds=rng.randint(3, max(3, min(900, int(room)))))

    def build_sends(self) -> None:
        rng = self.rng
        pool = [
            e
            for e in self.enrollments
            if e.lead.kind in ("normal", "old", "missing_name") and e not in self.old_enrollments
        ]
        self.baseline_pool = pool
        # Baseline: eight whole days plus today up to now.
        groups: dict[tuple[Campaign, datetime], list[Send]] = defaultdict(list)
        for days_back in range(8, -1, -1):
            day_start = self.today - timedelta(days=days_back)
            daily = rng.randint(*DAILY_SENDS)
            if days_back == 0:
                elapsed_hours = (self.now - self.today).total_seconds() / 3600
                full = int(elapsed_hours)
                weight = sum(HOUR_WEIGHTS[:full]) + (elapsed_hours - full) * HOUR_WEIGHTS[min(full, 23)]
                daily = round(daily * weight / sum(HOUR_WEIGHTS))
            times = []
            while len(times) < daily:
                t = self._time_in_day(day_start)
                if t < self.now:
                    times.append(t)
            for t in sorted(times):
                send = self._new_send(self._pick(pool, t), t, "baseline")
                groups[(send.campaign, day_start)].append(send)

        # 4. The imported list: two waves yesterday, addresses invalid (hard), blocked (soft) or fine.
        blast_sends: list[Send] = []
        seen_bounce: set[Lead] = set()
        wave_two = []
        for quality, count in BLAST_SECOND_SENDS.items():
            leads = [lead for lead in self.imported_leads if self.blast_quality[lead] == quality]
            wave_two += rng.sample(leads, count)
        waves = [(self.imported_leads, 9), (wave_two, 15)]
        for leads, hour in waves:
            for lead in leads:
                t = self.yesterday + timedelta(hours=hour, seconds=rng.randrange(3600))
                send = self._new_send(lead_enrollment(self, lead), t, "blast")
                blast_sends.append(send)
                quality = self.blast_quality[lead]
                if quality == "invalid":
                    self._bounce(send, "hard")
                    send.dropped = lead in seen_bounce  # SendGrid suppresses a known-bad address
                    seen_bounce.add(lead)
                elif quality == "blocked":
                    self._bounce(send, "soft")
        groups[(self.bounce_campaign, self.yesterday)].extend(blast_sends)

        for (campaign, day_start), group in groups.items():
            if campaign is self.low_campaign and day_start == self.yesterday:
                self._assign_outcomes(group, open_rate=LOW_ENGAGEMENT[0], click_rate=LOW_ENGAGEMENT[1])
            elif campaign is self.bounce_campaign and day_start == self.yesterday:
                # The campaign's own audience still engages: its open rate stays above 20%.
                self._assign_outcomes(group, open_rate=0.30, click_rate=0.055)
            else:
                self._assign_outcomes(group)

        # 1. Failure spike: one organization's sends in the last five minutes.
        window_start = self._ago(minutes=5)
        spike_pool = [e for e in pool if e.lead.org is self.spike_org]
        spike = []
        for _ in range(SPIKE_SENDS):
            t = self._between(window_start, self.now)
            spike.append(self._new_send(self._pick(spike_pool, t), t, "spike"))
        in_window = [s for s in self.sends if window_start <= s.created_at < self.now]
        baseline_failed = sum(1 for s in in_window if s.status == "failed")
        target = round(SPIKE_FAILURE_SHARE * len(in_window)) - baseline_failed
        self._assign_outcomes(spike, failure_reasons=SPIKE_FAILURE_REASONS, exact_failures=target)
        self.spike_sends = spike

        # 3. Stuck queue: sends the sender never picked up.
        self.stuck_sends = []
        for _ in range(STUCK_SENDS):
            t = self._between(self._ago(hours=3), self._ago(minutes=70))
            send = self._new_send(self._pick(pool, t), t, "stuck")
            send.status, send.actual, send.attempted_at, send.msg_id = "queued", None, None, None
            self.stuck_sends.append(send)

        # Last year's sends, for the archive.
        old: list[Send] = []
        for enrollment in self.old_enrollments:
            first = self._ago(days=rng.uniform(402, 420))
            for t in (first, first + timedelta(days=rng.randint(3, 20), seconds=rng.randrange(86400))):
                old.append(self._new_send(enrollment, t, "old"))
        self._assign_outcomes(old, bounce_rate=0.02)

        self.groups = groups

    # ---- unsubscribes, enrollment states
    def build_unsubscribes(self) -> None:
        rng = self.rng
        # 8. The low-engagement campaign's audience unsubscribes yesterday.
        group = self.groups[(self.low_campaign, self.yesterday)]
        limit = self.today - timedelta(minutes=15)
        candidates = [
            s
            for s in group
            if s.status == "sent"
            and s.actual < limit
            and s.enrollment.last_send() is s
            and s.enrollment.status == "active"
            and not s.enrollment.protected
        ]
        chosen = rng.sample(candidates, min(LOW_ENGAGEMENT_UNSUBSCRIBES + 4, len(candidates)))
        for i, send in enumerate(chosen):
            kind = "unsubscribe" if i < LOW_ENGAGEMENT_UNSUBSCRIBES else "group_unsubscribe"
            room = int(min(4 * 3600, (self.today - timedelta(minutes=1) - send.actual).total_seconds()))
            ts = send.actual + timedelta(seconds=rng.randint(120, max(121, room)))
            reason = rng.choices(UNSUBSCRIBE_REASONS, weights=(4, 5, 2, 1))[0]
            self._unsubscribe(send, kind, ts, reason)
        # Everyday unsubscribes: ~0.2% of sends, from people who opened.
        for (campaign, day_start), group in self.groups.items():
            if campaign is self.low_campaign and day_start == self.yesterday:
                continue
            candidates = [
                s
                for s in group
                if s.opened_at is not None
                and s.opened_at < self.now - timedelta(minutes=10)
                and s.enrollment.last_send() is s
                and s.enrollment.status == "active"
                and not s.enrollment.protected
            ]
            for send in rng.sample(
                candidates, min(self._rround(len(group) * UNSUBSCRIBE_RATE), len(candidates))
            ):
                base = send.clicked_at or send.opened_at
                room = int((self.now - timedelta(minutes=2) - base).total_seconds())
                ts = base + timedelta(seconds=rng.randint(5, max(5, min(600, room))))
                kind = rng.choice(("unsubscribe", "group_unsubscribe"))
                self._unsubscribe(send, kind, ts, rng.choice(UNSUBSCRIBE_REASONS))

    def _unsubscribe(self, send: Send, kind: str, ts: datetime, reason: str) -> None:
        send.unsubscribe = (kind, ts, reason)
        enrollment = send.enrollment
        enrollment.status = "completed"
        enrollment.completion_reason = "unsubscribed"
        enrollment.completed_at = enrollment.updated_at = ts

    def build_enrollment_states(self) -> None:
        rng = self.rng
        for enrollment in self.enrollments:
            enrollment.current_step = len(enrollment.sends)
            last_send = enrollment.last_send()
            last = last_send.created_at if last_send else enrollment.created_at
            if enrollment.status == "active":
                enrollment.updated_at = max(last, enrollment.created_at)
                enrollment.next_send_at = self.now + timedelta(seconds=rng.randint(300, 3 * 86400))
        # 10. Overdue: due between two hours and twenty minutes ago, never picked up.
        candidates = [
            e
            for e in self.enrollments
            if e.status == "active" and not e.protected and e.lead.kind == "normal" and e.sends
        ]
        self.overdue = rng.sample(candidates, OVERDUE_ENROLLMENTS)
        for enrollment in self.overdue:
            enrollment.next_send_at = self._between(self._ago(hours=2), self._ago(minutes=20))
            enrollment.protected = True

    # ---- events
    def build_events(self) -> None:
        rng = self.rng
        for send in self.sends:
            if send.status not in ("sent", "bounced"):
                continue
            send.sg_message_id = rows.sendgrid_message_id(send.msg_id, rng.getrandbits(32))
            if send.status == "bounced":
                ts = send.actual + timedelta(seconds=rng.randint(2, 90))
                if send.dropped:
                    self._event(send, "dropped", ts, {"reason": "Bounced Address", "status": "5.0.0"})
                elif send.bounce_type == "hard":
                    status, reason = HARD_BOUNCE
                    extra = {"type": "bounce", "status": status, "reason": reason}
                    self._event(send, "bounce", ts, {**extra, "bounce_classification": "Invalid Address"})
                else:
                    status, reason = rng.choice(SOFT_BOUNCES)
                    extra = {"type": "blocked", "status": status, "reason": reason}
                    self._event(send, "bounce", ts, {**extra, "bounce_classification": "Reputation"})
                send.updated_at = min(ts + timedelta(seconds=5), self.now - timedelta(seconds=1))
                continue
            ts = send.actual + timedelta(seconds=rng.randint(1, 8))
            self._event(send, "delivered", ts, {"response": "250 2.0.0 OK", "tls": 1})
            touched = send.actual
            if send.opened_at:
                ip = f"203.0.113.{rng.randint(1, 254)}"
                ua = rng.choice(USER_AGENTS)
                self._event(
                    send, "open", send.opened_at, {"useragent": ua, "ip": ip, "sg_machine_open": False}
                )
                touched = send.opened_at
                if send.clicked_at:
                    url = f"https://{send.lead.org.domain}/offers/{send.campaign.id}?utm_source=nurture"
                    self._event(send, "click", send.clicked_at, {"url": url, "useragent": ua, "ip": ip})
                    touched = send.clicked_at
            if send.unsubscribe:
                kind, ts, reason = send.unsubscribe
                extra: dict[str, Any] = {"reason": reason}
                if kind == "group_unsubscribe":
                    extra["asm_group_id"] = 1000 + self.orgs.index(send.lead.org)
                self._event(send, kind, ts, extra)
                touched = max(touched, ts)
            send.updated_at = touched
        for send in self.sends:
            if send.updated_at is None:
                send.updated_at = send.attempted_at or send.created_at
        self.build_duplicates()

    def _event(self, send: Send, event_type: str, ts: datetime, extra: dict[str, Any]) -> Event | None:
        ts = ts.replace(microsecond=0)  # SendGrid reports whole seconds
        created = ts + timedelta(seconds=self.rng.randint(1, 25))
        if created >= self.now:
            return None  # the webhook has not arrived yet
        unix_ts = int(ts.timestamp())
        payload = rows.webhook_payload(
            event_type,
            unix_ts,
            sg_event_id=rows.sendgrid_id(self.rng),
            email=send.lead.email,
            msg_id=send.msg_id,
            sg_message_id=send.sg_message_id,
            email_send_id=send.id,
            lead_id=send.lead.id,
            campaign_id=send.campaign.id,
            **extra,
        )
        event = Event(send, event_type, ts, created, payload, event_hash(send.id, event_type, unix_ts))
        self.events.append(event)
        return event

    def build_duplicates(self) -> None:
        """5. SendGrid retries yesterday: exact repeats (same hash) and re-stamped ones."""
        rng = self.rng
        lo, hi = self.yesterday + timedelta(hours=1), self.today - timedelta(hours=1)
        candidates = [
            e
            for e in self.events
            if lo <= e.created_at < hi and e.event_type in ("delivered", "open", "click")
        ]
        chosen = rng.sample(candidates, EXACT_DUPLICATES + NEAR_DUPLICATES)
        self.exact_duplicates, self.near_duplicates = [], []
        for i, original in enumerate(chosen):
            created = original.created_at + timedelta(seconds=rng.randint(20, 900))
            payload = dict(original.payload)
            if i < EXACT_DUPLICATES:
                dup = Event(
                    original.send, original.event_type, original.ts, created, payload, original.event_hash
                )
                self.exact_duplicates.append(dup)
            else:
                ts = original.ts + timedelta(seconds=1)
                payload["timestamp"] = int(ts.timestamp())
                new_hash = event_hash(original.send.id, original.event_type, payload["timestamp"])
                dup = Event(original.send, original.event_type, ts, created, payload, new_hash)
                self.near_duplicates.append(dup)
            self.events.append(dup)

    # ---- workflows
    def build_workflows(self) -> None:
        rng = self.rng
        sent_per_minute: Counter[datetime] = Counter()
        created_per_minute: Counter[datetime] = Counter()
        for send in self.sends:
            if send.tag == "old":
                continue
            created_per_minute[send.created_at.replace(second=0)] += 1
            if send.attempted_at:
                sent_per_minute[send.attempted_at.replace(second=0)] += 1
        events_per_minute: Counter[datetime] = Counter(
            e.created_at.replace(second=0) for e in self.events if e.send.tag != "old"
        )

        def window_sum(counter: Counter[datetime], start: datetime, minutes: int) -> int:
            start = start.replace(second=0, microsecond=0)
            return sum(counter[start + timedelta(minutes=m)] for m in range(minutes))

        def add(name: str, at: datetime, items: int, status: str = "success") -> Execution:
            per_item = {SCHEDULER: 35, SENDER: 180, EVENT_TRACKER: 20, ANALYTICS_UPDATER: 60}[name]
            duration = rng.randint(150, 900) + items * per_item + rng.randint(0, per_item)
            execution = Execution(name, at, status, items, duration)
            self.executions.append(execution)
            return execution

        recent = self._ago(hours=2)
        first_hour = self.today - timedelta(days=8)
        hour = first_hour
        while hour < recent:
            for name, counter in ((SCHEDULER, created_per_minute), (SENDER, sent_per_minute)):
                at = hour + timedelta(seconds=rng.randint(1, 20))
                if at < recent:
                    add(name, at, window_sum(counter, hour, 60))
            at = hour + timedelta(minutes=2, seconds=rng.randint(0, 20))
            if at < recent:
                add(EVENT_TRACKER, at, window_sum(events_per_minute, hour, 60))
            hour += timedelta(hours=1)
        # Every minute for the last two hours; the scheduler stopped 35 minutes ago (2.).
        spike_errors = {4: SPIKE_FAILURE_REASONS[0], 2: SPIKE_FAILURE_REASONS[1]}
        for minutes_back in range(120, 0, -1):
            minute = self._ago(minutes=minutes_back)
            at = minute + timedelta(seconds=rng.randint(0, 4))
            if minutes_back > 35:
                add(SCHEDULER, at, window_sum(created_per_minute, minute, 1))
            status = "error" if minutes_back in spike_errors else "success"
            execution = add(SENDER, at, window_sum(sent_per_minute, minute, 1), status)
            if status == "error":
                message = f"{spike_errors[minutes_back]} (POST https://api.sendgrid.com/v3/mail/send)"
                self.errors.append(WorkflowError(SENDER, execution, "Send via SendGrid", message, at))
            if minutes_back % 5 == 0:
                add(EVENT_TRACKER, at + timedelta(seconds=30), window_sum(events_per_minute, minute, 5))
        self.scheduler_last_run = max(e.created_at for e in self.executions if e.workflow_name == SCHEDULER)
        self.sender_last_run = max(e.created_at for e in self.executions if e.workflow_name == SENDER)

        # A few hiccups in the past week (each an errored hourly execution with its error row).
        for name, days_back, node, message in (
            (
                SCHEDULER,
                5,
                "Fetch Due Enrollments",
                "timeout exceeded when trying to connect (pool exhausted)",
            ),
            (EVENT_TRACKER, 6, "Parse Webhook", "Unexpected token < in JSON at position 0"),
            (SENDER, 3, "Send via SendGrid", "SendGrid 503 Service Unavailable"),
        ):
            candidates = [
                e
                for e in self.executions
                if e.workflow_name == name
                and e.created_at.date() == (self.today - timedelta(days=days_back)).date()
            ]
            execution = rng.choice(candidates)
            execution.status = "error"
            self.errors.append(
                WorkflowError(name, execution, node, message, execution.created_at + timedelta(seconds=1))
            )

    def build_analytics(self) -> None:
        """9. Analytics Updater runs at 01:00 for the day before; the runs for today-4 and
        yesterday failed, so those days have no rows."""
        rng = self.rng
        self.analytics_dates = [self.today - timedelta(days=d) for d in range(8, 1, -1) if d != 4]
        self.missing_analytics_dates = [self.today - timedelta(days=4), self.yesterday]
        unsubscribes: Counter[tuple[Campaign, datetime]] = Counter()
        for e in self.events:
            if e.event_type == "unsubscribe":
                unsubscribes[(e.send.campaign, e.ts.replace(hour=0, minute=0, second=0))] += 1
        by_actual_day: defaultdict[tuple[Campaign, datetime], list[Send]] = defaultdict(list)
        failed_by_day: defaultdict[tuple[Campaign, datetime], list[Send]] = defaultdict(list)
        for s in self.sends:
            if s.actual is not None:
                by_actual_day[(s.campaign, s.actual.replace(hour=0, minute=0, second=0))].append(s)
            if s.status == "failed":
                failed_by_day[(s.campaign, s.created_at.replace(hour=0, minute=0, second=0))].append(s)
        for day in (*self.analytics_dates, *self.missing_analytics_dates):
            run_at = day + timedelta(days=1, hours=1, seconds=rng.randint(2, 30))
            if run_at >= self.now:
                continue
            if day in self.missing_analytics_dates:
                execution = Execution(ANALYTICS_UPDATER, run_at, "error", 0, rng.randint(30000, 31000))
                self.executions.append(execution)
                message = "canceling statement due to statement timeout"
                self.errors.append(
                    WorkflowError(
                        ANALYTICS_UPDATER,
                        execution,
                        "Upsert Campaign Analytics",
                        message,
                        run_at + timedelta(seconds=30),
                    )
                )
                continue
            written = 0
            for campaign in self.campaigns:
                day_sends = by_actual_day[(campaign, day)]
                failed = failed_by_day[(campaign, day)]
                if not day_sends and not failed:
                    continue
                sent = len(day_sends)
                delivered = sum(1 for s in day_sends if s.status == "sent")
                bounced = sum(1 for s in day_sends if s.status == "bounced")
                opens = len({s.lead.id for s in day_sends if s.opened_at is not None})
                clicks = len({s.lead.id for s in day_sends if s.clicked_at is not None})
                unsubs = unsubscribes[(campaign, day)]
                self.analytics.append(
                    {
                        "organization_id": campaign.org.id,
                        "campaign_id": campaign.id,
                        "analytics_date": day.date(),
                        "emails_sent_today": sent,
                        "emails_delivered_today": delivered,
                        "emails_failed_today": len(failed),
                        "emails_bounced_today": bounced,
                        "unique_opens_today": opens,
                        "unique_clicks_today": clicks,
                        "unsubscribes_today": unsubs,
                        "delivery_rate": _pct(delivered, sent),
                        "open_rate": _pct(opens, sent),
                        "click_rate": _pct(clicks, sent),
                        "unsubscribe_rate": _pct(unsubs, sent),
                        "bounce_rate": _pct(bounced, sent),
                        "computed_at": run_at + timedelta(seconds=rng.randint(1, 9)),
                    }
                )
                written += 1
            self.executions.append(
                Execution(ANALYTICS_UPDATER, run_at, "success", written, rng.randint(800, 4000))
            )

    # ---- ids
    def assign_ids(self) -> None:
        def number(items: list[Any], key) -> list[Any]:
            ordered = sorted(enumerate(items), key=lambda pair: (key(pair[1]), pair[0]))
            for new_id, (_, item) in enumerate(ordered, start=1):
                item.id = new_id
            return [item for _, item in ordered]

        self.campaigns = number(self.campaigns, lambda c: c.created_at)
        self.leads = number(self.leads, lambda lead: lead.created_at)
        self.enrollments = number(self.enrollments, lambda e: e.created_at)
        self.sends = number(self.sends, lambda s: s.created_at)

    def assign_late_ids(self) -> None:
        for items in (self.events, self.executions, self.errors):
            ordered = sorted(enumerate(items), key=lambda pair: (pair[1].created_at, pair[0]))
            items[:] = [item for _, item in ordered]
            for new_id, item in enumerate(items, start=1):
                item.id = new_id
        for row_id, row in enumerate(
            sorted(self.analytics, key=lambda r: (r["analytics_date"], r["campaign_id"])), 1
        ):
            row["id"] = row_id
        self.analytics.sort(key=lambda r: r["id"])

    def generate(self) -> None:
        self.build_accounts()
        self.build_sends()
        self.build_unsubscribes()
        self.build_enrollment_states()
        self.assign_ids()
        self.build_events()
        self.build_workflows()
        self.build_analytics()
        self.assign_late_ids()

    # ---- output
    def write(self, conn: psycopg.Connection) -> None:
        """COPY every table through dev/rows.py, with the ids assigned above."""
        rng = self.rng
        tz_of = {lead: rng.choice(TIMEZONES) for lead in self.leads}
        rows.copy(conn, (rows.organization(o.name, created_at=o.created_at, id=o.id) for o in self.orgs))
        rows.copy(
            conn,
            (rows.campaign(c.org.id, c.name, created_at=c.created_at, id=c.id) for c in self.campaigns),
        )
        rows.copy(
            conn,
            (
                rows.lead(
                    lead.org.id,
                    lead.name,
                    lead.email,
                    metadata=lead.metadata,
                    created_at=lead.created_at,
                    id=lead.id,
                )
                for lead in self.leads
            ),
        )
        rows.copy(
            conn,
            (
                rows.lead_preferences(
                    lead.id,
                    timezone=tz_of[lead],
                    preferred_send_hour=rng.randint(7, 18),
                    max_emails_per_week=rng.choice((2, 3, 3, 5, 7)),
                    updated_at=lead.created_at,
                )
                for lead in self.leads
            ),
        )
        rows.copy(
            conn,
            (
                rows.enrollment(
                    e.lead.org.id,
                    e.campaign.id,
                    e.lead.id,
                    status=e.status,
                    current_step=e.current_step,
                    next_send_at=e.next_send_at,
                    completion_reason=e.completion_reason,
                    created_at=e.created_at,
                    updated_at=e.updated_at or e.created_at,
                    completed_at=e.completed_at,
                    id=e.id,
                )
                for e in self.enrollments
            ),
        )
        rows.copy(
            conn,
            (
                rows.send(
                    s.lead.org.id,
                    s.lead.id,
                    s.campaign.id,
                    enrollment_id=s.enrollment.id,
                    status=s.status,
                    scheduled_at=s.scheduled,
                    sent_at=s.actual,
                    failure_reason=s.failure_reason,
                    bounce_type=s.bounce_type,
                    sendgrid_message_id=s.msg_id,
                    opened_at=s.opened_at,
                    first_click_at=s.clicked_at,
                    created_at=s.created_at,
                    updated_at=s.updated_at,
                    id=s.id,
                )
                for s in self.sends
            ),
        )
        rows.copy(
            conn,
            (
                rows.event(
                    e.send.id,
                    e.event_type,
                    at=e.ts,
                    event_hash=e.event_hash,
                    payload=e.payload,
                    created_at=e.created_at,
                    id=e.id,
                )
                for e in self.events
            ),
        )
        rows.copy(conn, (rows.analytics(**r) for r in self.analytics))
        rows.copy(
            conn,
            (
                rows.execution(
                    x.workflow_name,
                    status=x.status,
                    items=x.items_processed,
                    duration_ms=x.duration_ms,
                    at=x.created_at,
                    id=x.id,
                )
                for x in self.executions
            ),
        )
        rows.copy(
            conn,
            (
                rows.workflow_error(
                    w.workflow_name,
                    execution_id=w.execution.id if w.execution else None,
                    node_name=w.node_name,
                    message=w.error_message,
                    at=w.created_at,
                    id=w.id,
                )
                for w in self.errors
            ),
        )
        rows.continue_identities(conn, IDENTITY_TABLES)

    # ---- manifest
    def manifest(self) -> dict[str, Any]:
        counts = {
            "organizations": len(self.orgs),
            "nurture_campaigns": len(self.campaigns),
            "leads": len(self.leads),
            "lead_preferences": len(self.leads),
            "lead_campaign_enrollments": len(self.enrollments),
            "email_sends": len(self.sends),
            "email_events": len(self.events),
            "campaign_analytics": len(self.analytics),
            "workflow_executions": len(self.executions),
            "workflow_errors": len(self.errors),
        }
        today, yesterday, now = self.today, self.yesterday, self.now

        def in_yesterday(t: datetime | None) -> bool:
            return t is not None and yesterday <= t < today

        # 1.
        window_start = now - timedelta(minutes=5)
        window = [s for s in self.sends if window_start <= s.created_at < now]
        window_failed = [s for s in window if s.status == "failed"]
        # 4.
        y_sent = [s for s in self.sends if in_yesterday(s.actual)]
        y_bounced = [s for s in y_sent if s.status == "bounced"]
        bc = self.bounce_campaign
        bc_sent = [s for s in y_sent if s.campaign is bc]
        bc_bounced = [s for s in bc_sent if s.status == "bounced"]
        bounces_by_lead_type = Counter(
            (s.lead.id, s.bounce_type) for s in self.sends if s.status == "bounced"
        )
        hard_leads = {s.lead.id for s in self.sends if s.bounce_type == "hard"}
        active_leads = {e.lead.id for e in self.enrollments if e.status == "active"}
        # 5.
        y_events = [e for e in self.events if in_yesterday(e.created_at)]
        # 7. / 8.
        low = self.low_campaign
        low_sent = [s for s in y_sent if s.campaign is low]
        low_opens = len({s.lead.id for s in low_sent if s.opened_at is not None})
        low_clicks = len({s.lead.id for s in low_sent if s.clicked_at is not None})
        y_unsubs = [e for e in self.events if e.event_type == "unsubscribe" and in_yesterday(e.ts)]
        org = low.org
        org_unsubs = sum(1 for e in y_unsubs if e.send.lead.org is org)
        org_sent = sum(1 for s in y_sent if s.lead.org is org)
        overall_rate = _pct_float(len(y_unsubs), len(y_sent))
        scope = "organization and overall" if overall_rate and overall_rate > 1 else "organization"
        # Healthy volume yesterday (created_at).
        y_created = [s for s in self.sends if in_yesterday(s.created_at)]
        delays = [(s.actual - s.scheduled).total_seconds() for s in y_created if s.actual is not None]

        return {
            "seed": self.seed,
            "now": _iso(now),
            "today_start": _iso(today),
            "yesterday_start": _iso(yesterday),
            "counts": counts,
            "organizations": [
                {
                    "id": str(o.id),
                    "name": o.name,
                    "campaigns": [{"id": c.id, "name": c.name} for c in o.campaigns],
                }
                for o in self.orgs
            ],
            "anomalies": {
                "failure_spike": {
                    "window_start": _iso(window_start),
                    "window_end": _iso(now),
                    "organization_id": str(self.spike_org.id),
                    "organization_name": self.spike_org.name,
                    "sends": len(window),
                    "failed": len(window_failed),
                    "failure_rate": _pct_float(len(window_failed), len(window)),
                    "spike_sends": len(self.spike_sends),
                    "failure_reasons": dict(sorted(Counter(s.failure_reason for s in window_failed).items())),
                },
                "workflow_stopped": {
                    "workflow_name": SCHEDULER,
                    "last_run": _iso(self.scheduler_last_run),
                    "running_workflow": SENDER,
                    "running_workflow_last_run": _iso(self.sender_last_run),
                },
                "stuck_queue": {
                    "count": len(self.stuck_sends),
                    "send_ids": sorted(s.id for s in self.stuck_sends),
                    "oldest_scheduled": _iso(min(s.scheduled for s in self.stuck_sends)),
                    "newest_scheduled": _iso(max(s.scheduled for s in self.stuck_sends)),
                },
                "bounces": {
                    "campaign_id": bc.id,
                    "campaign_name": bc.name,
                    "organization_id": str(bc.org.id),
                    "yesterday_sends": len(y_sent),
                    "yesterday_bounced": len(y_bounced),
                    "yesterday_bounce_rate": _pct_float(len(y_bounced), len(y_sent)),
                    "campaign_sends": len(bc_sent),
                    "campaign_bounced": len(bc_bounced),
                    "campaign_bounce_rate": _pct_float(len(bc_bounced), len(bc_sent)),
                    "campaign_hard": sum(1 for s in bc_bounced if s.bounce_type == "hard"),
                    "campaign_soft": sum(1 for s in bc_bounced if s.bounce_type == "soft"),
                    "lead_bounce_type_pairs_with_2plus": sum(
                        1 for n in bounces_by_lead_type.values() if n >= 2
                    ),
                    "hard_bounced_leads_with_active_enrollment": len(hard_leads & active_leads),
                },
                "duplicate_events": {
                    "window_start": _iso(yesterday),
                    "window_end": _iso(today),
                    "events": len(y_events),
                    "distinct_event_hashes": len({e.event_hash for e in y_events}),
                    "same_hash_duplicates": len(self.exact_duplicates),
                    "different_hash_same_sg_event_id": len(self.near_duplicates),
                    "near_duplicate_sg_event_ids": sorted(
                        e.payload["sg_event_id"] for e in self.near_duplicates
                    ),
                },
                "missing_personalization": {
                    "lead_ids_missing_name": sorted(x.id for x in self.missing_leads if x.name is None),
                    "lead_ids_missing_email": sorted(x.id for x in self.missing_leads if x.email is None),
                    "organization_ids": sorted({str(x.org.id) for x in self.missing_leads}),
                },
                "low_engagement": {
                    "campaign_id": low.id,
                    "campaign_name": low.name,
                    "organization_id": str(low.org.id),
                    "sends": len(low_sent),
                    "unique_opens": low_opens,
                    "unique_clicks": low_clicks,
                    "open_rate": _pct_float(low_opens, len(low_sent)),
                    "click_rate": _pct_float(low_clicks, len(low_sent)),
                },
                "high_unsubscribe": {
                    "scope": scope,
                    "organization_id": str(org.id),
                    "organization_name": org.name,
                    "organization_unsubscribes": org_unsubs,
                    "organization_sends": org_sent,
                    "organization_rate": _pct_float(org_unsubs, org_sent),
                    "unsubscribes": len(y_unsubs),
                    "sends": len(y_sent),
                    "rate": overall_rate,
                },
                "missing_analytics": {
                    "present_dates": [_iso(d.date()) for d in self.analytics_dates],
                    "missing_dates": [_iso(d.date()) for d in self.missing_analytics_dates],
                    "latest_date": _iso(max(self.analytics_dates).date()),
                },
                "overdue_enrollments": {
                    "count": len(self.overdue),
                    "enrollment_ids": sorted(e.id for e in self.overdue),
                },
            },
            "healthy": {
                "yesterday_volume": {
                    "emails_sent": len(y_created),
                    "successful": sum(1 for s in y_created if s.status == "sent"),
                    "failed": sum(1 for s in y_created if s.status == "failed"),
                    "failure_rate": _pct_float(
                        sum(1 for s in y_created if s.status == "failed"), len(y_created)
                    ),
                    "avg_delay_seconds": round(sum(delays) / len(delays), 1) if delays else None,
                },
            },
        }


def lead_enrollment(seeder: _Seeder, lead: Lead) -> Enrollment:
    return next(e for e in seeder.enrollments if e.lead is lead)


# --------------------------------------------------------------------------- public API


def default_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def parse_now(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def is_empty(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM organizations)").fetchone()[0]


def truncate(conn: psycopg.Connection) -> None:
    tables = sql.SQL(", ").join(map(sql.Identifier, TABLES))
    with conn.transaction():
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


def seed(conn: psycopg.Connection, *, seed: int = 42, now: datetime | None = None) -> dict[str, Any]:
    """Write the demo data into an empty lead-nurture database (one transaction) and return
    the manifest. Raises RuntimeError when organizations already has rows."""
    now = default_now() if now is None else now.astimezone(UTC)
    seeder = _Seeder(seed, now)
    seeder.generate()
    with conn.transaction():
        if not is_empty(conn):
            raise RuntimeError("the database already holds data: use --reset (or --if-empty)")
        seeder.write(conn)
    return seeder.manifest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="libpq URI of the lead-nurture database")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", type=parse_now, default=None, help="ISO-8601 (default: now UTC, floored)")
    parser.add_argument("--if-empty", action="store_true", help="do nothing when organizations has rows")
    parser.add_argument("--reset", action="store_true", help="truncate every table first")
    parser.add_argument("--manifest", help="also write the manifest (JSON) to this file")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn) as conn:
        if args.if_empty and not is_empty(conn):
            print("dev.seed: organizations already has rows; nothing to do")
            return 0
        if args.reset:
            truncate(conn)
        try:
            manifest = seed(conn, seed=args.seed, now=args.now)
        except RuntimeError as exc:
            print(f"dev.seed: {exc}", file=sys.stderr)
            return 1
    text = json.dumps(manifest, indent=2)
    if args.manifest:
        with open(args.manifest, "w") as fh:
            fh.write(text + "\n")
    counts = ", ".join(f"{table} {n}" for table, n in manifest["counts"].items())
    print(f"dev.seed: seed={args.seed} now={manifest['now']}: {counts}")
    if not args.manifest:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
