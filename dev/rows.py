"""The one row builder for the lead-nurture schema (include/sql/schema/010_create_lead_nurture.sql).

Everything that writes demo or test rows goes through here: the tests row by row, dev/seed.py in
batches with COPY and explicit ids, dev/simulate.py in batches with executemany. (dev/bench.py
fills its capacity database with set-based SQL, INSERT ... SELECT GENERATE_SERIES, for scale.)
Never imported by dags/ or plugins/.

Row functions -- organization(), campaign(), lead(), lead_preferences(), enrollment(), send(),
event(), execution(), workflow_error(), analytics() -- return a Row: the table and a value for
every column, the schema's defaults applied, timestamps always explicit (never the database's
now()). id=None leaves the id to the database. Writers put rows into a database:

    insert(conn, row) -> id               one row, RETURNING its id
    insert_many(conn, rows) -> [id, ...]  one table, executemany (pipelined)
    copy(conn, rows) -> count             one table, COPY FROM STDIN (explicit ids: then
    continue_identities(conn)             moves the identity sequences past them)

Builder(conn, now=T) is both at once for tests and small worlds: one method per entity, each
inserting one row and returning its id, with unique names, T for every omitted timestamp and
the organization taken from the campaign when not given:

    b = Builder(conn, now=T)
    org = b.org("Acme")
    camp = b.campaign(org, "Welcome")
    lead = b.lead(org)                     # name and email default to unique values
    enr = b.enrollment(lead, camp, next_send_at=T)
    send = b.send(lead, camp, sent_at=T, status="sent", opened_at=T, enrollment_id=enr)
    b.event(send, "open", at=T)             # event_hash defaults to a unique value

Batches: rows.copy(conn, (rows.send(org, lead, camp, created_at=t, id=i) for ...)), then
rows.continue_identities(conn); or rows.insert_many(conn, [rows.event(send, "open", at=t), ...]).

SendGrid webhook events as the Event Tracker stores them: webhook_payload() (the payload, with
the custom args email_send_id, lead_id and campaign_id) and event_hash() (its deduplication key,
md5('<email_send_id>|<event_type>|<payload timestamp as unix seconds>')).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import sql

# Insertion order (foreign keys).
TABLES = (
    "organizations",
    "nurture_campaigns",
    "leads",
    "lead_preferences",
    "lead_campaign_enrollments",
    "email_sends",
    "email_events",
    "campaign_analytics",
    "workflow_executions",
    "workflow_errors",
)
# Tables whose id is an identity column (organizations has a uuid, lead_preferences the lead's id).
IDENTITY_TABLES = tuple(t for t in TABLES if t not in ("organizations", "lead_preferences"))
KEYS = {"lead_preferences": "lead_id"}  # the column insert() returns; "id" elsewhere

ANALYTICS_COUNTS = (
    "emails_sent_today",
    "emails_delivered_today",
    "emails_failed_today",
    "emails_bounced_today",
    "unique_opens_today",
    "unique_clicks_today",
    "unsubscribes_today",
)
ANALYTICS_RATES = ("delivery_rate", "open_rate", "click_rate", "unsubscribe_rate", "bounce_rate")

UNSET: Any = object()  # "not given" where None means NULL


@dataclass(frozen=True)
class Row:
    """One row of `table`: {column: value}, every column of the table (id None: the database's)."""

    table: str
    values: dict[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, v in self.values.items() if not (c == "id" and v is None))

    def params(self) -> tuple[Any, ...]:
        return tuple(self.values[c] for c in self.columns)


# --------------------------------------------------------------------------- row functions


def organization(name: str, *, created_at: datetime, id: Any = None) -> Row:
    return Row("organizations", {"id": id, "name": name, "created_at": created_at})


def campaign(
    organization_id: Any, name: str, *, created_at: datetime, status: str = "active", id: int | None = None
) -> Row:
    return Row(
        "nurture_campaigns",
        {
            "id": id,
            "organization_id": organization_id,
            "campaign_name": name,
            "status": status,
            "created_at": created_at,
        },
    )


def lead(
    organization_id: Any,
    name: str | None,
    email: str | None,
    *,
    created_at: datetime,
    metadata: dict[str, Any] | None = None,
    updated_at: datetime | None = None,
    id: int | None = None,
) -> Row:
    return Row(
        "leads",
        {
            "id": id,
            "organization_id": organization_id,
            "name": name,
            "email": email,
            "metadata": json.dumps(metadata or {}),
            "created_at": created_at,
            "updated_at": updated_at or created_at,
        },
    )


def lead_preferences(
    lead_id: int,
    *,
    updated_at: datetime,
    timezone: str | None = None,
    preferred_send_hour: int | None = None,
    max_emails_per_week: int | None = None,
) -> Row:
    return Row(
        "lead_preferences",
        {
            "lead_id": lead_id,
            "timezone": timezone,
            "preferred_send_hour": preferred_send_hour,
            "max_emails_per_week": max_emails_per_week,
            "updated_at": updated_at,
        },
    )


def enrollment(
    organization_id: Any,
    campaign_id: int,
    lead_id: int,
    *,
    created_at: datetime,
    status: str = "active",
    current_step: int = 0,
    next_send_at: datetime | None = None,
    completion_reason: str | None = None,
    completed_at: datetime | None = None,
    updated_at: datetime | None = None,
    id: int | None = None,
) -> Row:
    """updated_at defaults to completed_at, else created_at."""
    return Row(
        "lead_campaign_enrollments",
        {
            "id": id,
            "organization_id": organization_id,
            "campaign_id": campaign_id,
            "lead_id": lead_id,
            "status": status,
            "current_step": current_step,
            "next_send_at": next_send_at,
            "completion_reason": completion_reason,
            "created_at": created_at,
            "updated_at": updated_at or completed_at or created_at,
            "completed_at": completed_at,
        },
    )


def send(
    organization_id: Any,
    lead_id: int,
    campaign_id: int,
    *,
    created_at: datetime,
    status: str = "sent",
    enrollment_id: int | None = None,
    scheduled_at: datetime | None = None,
    sent_at: datetime | None = None,
    failure_reason: str | None = None,
    bounce_type: str | None = None,
    sendgrid_message_id: str | None = None,
    opened_at: datetime | None = None,
    first_click_at: datetime | None = None,
    updated_at: datetime | None = None,
    id: int | None = None,
) -> Row:
    """An email_sends row. sent_at is actual_send_time (None: never attempted); scheduled_at
    defaults to created_at, updated_at to sent_at, else created_at; status 'bounced' defaults
    bounce_type to 'hard'."""
    if status == "bounced" and bounce_type is None:
        bounce_type = "hard"
    return Row(
        "email_sends",
        {
            "id": id,
            "organization_id": organization_id,
            "enrollment_id": enrollment_id,
            "lead_id": lead_id,
            "campaign_id": campaign_id,
            "send_status": status,
            "scheduled_send_time": scheduled_at or created_at,
            "actual_send_time": sent_at,
            "failure_reason": failure_reason,
            "bounce_type": bounce_type,
            "sendgrid_message_id": sendgrid_message_id,
            "opened_at": opened_at,
            "first_click_at": first_click_at,
            "created_at": created_at,
            "updated_at": updated_at or sent_at or created_at,
        },
    )


def event(
    email_send_id: int,
    event_type: str,
    *,
    at: datetime,
    created_at: datetime | None = None,
    event_hash: str | None = None,
    sg_event_id: str | None = None,
    payload: dict[str, Any] | None = None,
    id: int | None = None,
) -> Row:
    """An email_events row; `at` is event_timestamp, created_at (when the webhook arrived)
    defaults to it. sg_event_id goes into the payload."""
    payload = dict(payload or {})
    if sg_event_id is not None:
        payload["sg_event_id"] = sg_event_id
    return Row(
        "email_events",
        {
            "id": id,
            "email_send_id": email_send_id,
            "event_type": event_type,
            "event_timestamp": at,
            "event_hash": event_hash,
            "payload": json.dumps(payload),
            "created_at": created_at or at,
        },
    )


def execution(
    workflow_name: str,
    *,
    at: datetime,
    status: str = "success",
    items: int | None = None,
    duration_ms: int | None = None,
    id: int | None = None,
) -> Row:
    return Row(
        "workflow_executions",
        {
            "id": id,
            "workflow_name": workflow_name,
            "status": status,
            "items_processed": items,
            "duration_ms": duration_ms,
            "created_at": at,
        },
    )


def workflow_error(
    workflow_name: str,
    *,
    at: datetime,
    message: str | None,
    node_name: str | None = None,
    execution_id: int | None = None,
    id: int | None = None,
) -> Row:
    return Row(
        "workflow_errors",
        {
            "id": id,
            "workflow_name": workflow_name,
            "execution_id": execution_id,
            "node_name": node_name,
            "error_message": message,
            "created_at": at,
        },
    )


def analytics(
    organization_id: Any,
    campaign_id: int,
    analytics_date: date,
    *,
    computed_at: datetime,
    id: int | None = None,
    **figures: Any,
) -> Row:
    """A campaign_analytics row; figures by column name (counts default to 0, rates to NULL)."""
    unknown = set(figures) - set(ANALYTICS_COUNTS) - set(ANALYTICS_RATES)
    if unknown:
        raise TypeError(f"campaign_analytics has no column(s) {sorted(unknown)}")
    return Row(
        "campaign_analytics",
        {
            "id": id,
            "organization_id": organization_id,
            "campaign_id": campaign_id,
            "analytics_date": analytics_date,
            **{c: figures.get(c, 0) for c in ANALYTICS_COUNTS},
            **{c: figures.get(c) for c in ANALYTICS_RATES},
            "computed_at": computed_at,
        },
    )


# --------------------------------------------------------------------------- SendGrid events


def event_hash(email_send_id: int, event_type: str, unix_ts: int) -> str:
    """The Event Tracker's deduplication key."""
    return hashlib.md5(f"{email_send_id}|{event_type}|{unix_ts}".encode()).hexdigest()


def sendgrid_id(rng: random.Random) -> str:
    """A SendGrid-style random id (message ids, sg_event_id): 128 bits, URL-safe base64."""
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode().rstrip("=")


def sendgrid_message_id(msg_id: str, filter_id: int) -> str:
    """The sg_message_id SendGrid reports in webhooks for the message id the send API returned."""
    return f"{msg_id}.filterdrecv-{filter_id:08x}-1-0.0"


def webhook_payload(
    event_type: str,
    unix_ts: int,
    *,
    sg_event_id: str,
    email: str | None,
    msg_id: str | None,
    sg_message_id: str | None,
    email_send_id: int,
    lead_id: int,
    campaign_id: int,
    **extra: Any,
) -> dict[str, Any]:
    """A SendGrid event webhook payload carrying the Email Sender's custom args."""
    return {
        "email": email,
        "timestamp": unix_ts,
        "event": event_type,
        "sg_event_id": sg_event_id,
        "sg_message_id": sg_message_id,
        "smtp-id": f"<{msg_id}@ismtpd0001p1iad2.sendgrid.net>",
        "category": ["lead-nurture", f"campaign-{campaign_id}"],
        "email_send_id": email_send_id,
        "lead_id": lead_id,
        "campaign_id": campaign_id,
        **extra,
    }


# --------------------------------------------------------------------------- writers


def _statement(row: Row, *, returning: bool) -> sql.Composed:
    columns = row.columns
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(row.table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    if returning:
        statement += sql.SQL(" RETURNING {}").format(sql.Identifier(KEYS.get(row.table, "id")))
    return statement


def _check_batch(first: Row, row: Row) -> Row:
    if row.table != first.table or row.columns != first.columns:
        raise ValueError(f"one batch, one table and one set of columns: {first.table}, {row.table}")
    return row


def insert(conn, row: Row) -> Any:
    """Insert one row; returns its id (lead_preferences: its lead_id)."""
    with conn.cursor() as cur:
        cur.execute(_statement(row, returning=True), row.params())
        return cur.fetchone()[0]


def insert_many(conn, rows: Iterable[Row]) -> list[Any]:
    """Insert rows of one table with executemany; returns their ids in order."""
    rows = list(rows)
    if not rows:
        return []
    params = [_check_batch(rows[0], r).params() for r in rows]
    with conn.cursor() as cur:
        cur.executemany(_statement(rows[0], returning=True), params, returning=True)
        return [result.fetchone()[0] for result in cur.results()]


def copy(conn, rows: Iterable[Row]) -> int:
    """COPY rows of one table (a generator is fine: it is streamed); returns how many."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(first.table), sql.SQL(", ").join(map(sql.Identifier, first.columns))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as out:
        for row in itertools.chain([first], rows):
            out.write_row(_check_batch(first, row).params())
            count += 1
    return count


def continue_identities(conn, tables: Iterable[str] = IDENTITY_TABLES) -> None:
    """After rows with explicit ids: each identity sequence continues after the table's MAX(id)."""
    for table in tables:
        conn.execute(
            sql.SQL(
                "SELECT SETVAL(PG_GET_SERIAL_SEQUENCE({name}, 'id'), "
                "(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
        )


# --------------------------------------------------------------------------- row by row


class Builder:
    """One row at a time, each method returning the new row's id (see the module docstring).

    `now` is the instant every omitted timestamp defaults to; names, emails and event hashes
    default to unique values (name/email/event_hash None: NULL). Enrollments, sends and
    analytics rows take the campaign's organization unless org_id is given."""

    def __init__(self, conn, *, now: datetime):
        self.conn = conn
        self.now = now
        self._n = itertools.count(1)
        self._campaign_orgs: dict[int, Any] = {}

    def insert(self, row: Row) -> Any:
        return insert(self.conn, row)

    def _org_of(self, campaign_id: int, org_id: Any) -> Any:
        if org_id is not None:
            return org_id
        if campaign_id not in self._campaign_orgs:
            self._campaign_orgs[campaign_id] = self.conn.execute(
                "SELECT organization_id FROM nurture_campaigns WHERE id = %s", (campaign_id,)
            ).fetchone()[0]
        return self._campaign_orgs[campaign_id]

    def org(self, name: str | None = None, *, created_at: datetime | None = None, id: Any = None) -> Any:
        return self.insert(
            organization(name or f"Org {next(self._n)}", created_at=created_at or self.now, id=id)
        )

    def campaign(
        self, org_id: Any, name: str | None = None, *, created_at: datetime | None = None, **columns: Any
    ) -> int:
        row = campaign(
            org_id, name or f"Campaign {next(self._n)}", created_at=created_at or self.now, **columns
        )
        campaign_id = self.insert(row)
        self._campaign_orgs[campaign_id] = org_id
        return campaign_id

    def lead(
        self,
        org_id: Any,
        name: str | None = UNSET,
        email: str | None = UNSET,
        *,
        created_at: datetime | None = None,
        **columns: Any,
    ) -> int:
        n = next(self._n)
        return self.insert(
            lead(
                org_id,
                f"Lead {n}" if name is UNSET else name,
                f"lead{n}@example.test" if email is UNSET else email,
                created_at=created_at or self.now,
                **columns,
            )
        )

    def preferences(self, lead_id: int, *, updated_at: datetime | None = None, **columns: Any) -> int:
        return self.insert(lead_preferences(lead_id, updated_at=updated_at or self.now, **columns))

    def enrollment(
        self,
        lead_id: int,
        campaign_id: int,
        *,
        org_id: Any = None,
        created_at: datetime | None = None,
        **columns: Any,
    ) -> int:
        org_id = self._org_of(campaign_id, org_id)
        return self.insert(
            enrollment(org_id, campaign_id, lead_id, created_at=created_at or self.now, **columns)
        )

    def send(
        self,
        lead_id: int,
        campaign_id: int,
        *,
        org_id: Any = None,
        created_at: datetime | None = None,
        sent_at: datetime | None = None,
        **columns: Any,
    ) -> int:
        """created_at defaults to sent_at (actual_send_time), else `now`."""
        org_id = self._org_of(campaign_id, org_id)
        created = created_at or sent_at or self.now
        return self.insert(send(org_id, lead_id, campaign_id, created_at=created, sent_at=sent_at, **columns))

    def event(
        self,
        send_id: int,
        event_type: str,
        *,
        at: datetime | None = None,
        event_hash: str | None = UNSET,
        **columns: Any,
    ) -> int:
        if event_hash is UNSET:
            event_hash = f"hash-{next(self._n)}"
        return self.insert(event(send_id, event_type, at=at or self.now, event_hash=event_hash, **columns))

    def execution(self, workflow_name: str, *, at: datetime | None = None, **columns: Any) -> int:
        return self.insert(execution(workflow_name, at=at or self.now, **columns))

    def workflow_error(
        self, workflow_name: str, *, at: datetime | None = None, message: str | None = "boom", **columns: Any
    ) -> int:
        return self.insert(workflow_error(workflow_name, at=at or self.now, message=message, **columns))

    def analytics(
        self,
        campaign_id: int,
        day: date,
        *,
        emails_sent: int = 10,
        open_rate: float | None = 50,
        click_rate: float | None = 10,
        org_id: Any = None,
        computed_at: datetime | None = None,
        **figures: Any,
    ) -> int:
        """A campaign_analytics row written directly (for checks that read the table)."""
        return self.insert(
            analytics(
                self._org_of(campaign_id, org_id),
                campaign_id,
                day,
                computed_at=computed_at or self.now,
                emails_sent_today=emails_sent,
                open_rate=open_rate,
                click_rate=click_rate,
                **figures,
            )
        )
