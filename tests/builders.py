"""A small test-data builder for the lead-nurture tables (reusable by any test).

    seed = Seed(db)                       # db: a psycopg connection (autocommit or not)
    org = seed.org("Acme")
    camp = seed.campaign(org, "Welcome")
    lead = seed.lead(org)                 # name/email default to unique values
    enr = seed.enrollment(lead, camp, next_send_at=T)
    send = seed.send(lead, camp, sent_at=T, status="sent", opened_at=T)
    seed.event(send, "open", at=T)

Every timestamp defaults to BASE_TIME (a fixed instant), never to the database's now(), so a
test's numbers do not depend on when it runs. Organization ids of enrollments and sends come
from the campaign unless given. Each method returns the new row's id.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from typing import Any

BASE_TIME = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_UNSET: Any = object()


def at(day: date | str, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An instant on a UTC day: at("2026-05-03", 23, 59, 59)."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


class Seed:
    def __init__(self, conn):
        self.conn = conn
        self._n = itertools.count(1)

    def _insert(self, table: str, values: dict[str, Any]) -> Any:
        values = {k: v for k, v in values.items() if v is not _UNSET}
        columns = ", ".join(values)
        placeholders = ", ".join(f"%({k})s" for k in values)
        with self.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", values)
            return cur.fetchone()[0]

    def _campaign_org(self, campaign_id: int):
        with self.conn.cursor() as cur:
            cur.execute("SELECT organization_id FROM nurture_campaigns WHERE id = %s", (campaign_id,))
            return cur.fetchone()[0]

    def org(self, name: str | None = None, *, created_at: datetime = BASE_TIME):
        return self._insert(
            "organizations", {"name": name or f"Org {next(self._n)}", "created_at": created_at}
        )

    def campaign(
        self, org_id, name: str | None = None, *, status: str = "active", created_at=BASE_TIME
    ) -> int:
        return self._insert(
            "nurture_campaigns",
            {
                "organization_id": org_id,
                "campaign_name": name or f"Campaign {next(self._n)}",
                "status": status,
                "created_at": created_at,
            },
        )

    def lead(
        self,
        org_id,
        name: str | None = _UNSET,
        email: str | None = _UNSET,
        *,
        metadata: dict | None = None,
        created_at: datetime = BASE_TIME,
    ) -> int:
        """name/email: omitted -> a unique value; None -> NULL."""
        n = next(self._n)
        return self._insert(
            "leads",
            {
                "organization_id": org_id,
                "name": f"Lead {n}" if name is _UNSET else name,
                "email": f"lead{n}@example.test" if email is _UNSET else email,
                "metadata": json.dumps(metadata or {}),
                "created_at": created_at,
                "updated_at": created_at,
            },
        )

    def enrollment(
        self,
        lead_id: int,
        campaign_id: int,
        *,
        status: str = "active",
        next_send_at: datetime | None = None,
        completion_reason: str | None = None,
        org_id=None,
        created_at: datetime = BASE_TIME,
    ) -> int:
        return self._insert(
            "lead_campaign_enrollments",
            {
                "organization_id": org_id or self._campaign_org(campaign_id),
                "campaign_id": campaign_id,
                "lead_id": lead_id,
                "status": status,
                "next_send_at": next_send_at,
                "completion_reason": completion_reason,
                "created_at": created_at,
                "updated_at": created_at,
            },
        )

    def send(
        self,
        lead_id: int,
        campaign_id: int,
        *,
        status: str = "sent",
        sent_at: datetime | None = None,
        created_at: datetime | None = None,
        scheduled_at: datetime | None = None,
        bounce_type: str | None = None,
        opened_at: datetime | None = None,
        first_click_at: datetime | None = None,
        failure_reason: str | None = None,
        enrollment_id: int | None = None,
        org_id=None,
    ) -> int:
        """sent_at is actual_send_time (None: never attempted); created_at and scheduled_at
        default to sent_at, else BASE_TIME. status 'bounced' defaults bounce_type to 'hard'."""
        created = created_at or sent_at or BASE_TIME
        if status == "bounced" and bounce_type is None:
            bounce_type = "hard"
        return self._insert(
            "email_sends",
            {
                "organization_id": org_id or self._campaign_org(campaign_id),
                "enrollment_id": enrollment_id,
                "lead_id": lead_id,
                "campaign_id": campaign_id,
                "send_status": status,
                "scheduled_send_time": scheduled_at or created,
                "actual_send_time": sent_at,
                "failure_reason": failure_reason,
                "bounce_type": bounce_type,
                "opened_at": opened_at,
                "first_click_at": first_click_at,
                "created_at": created,
                "updated_at": created,
            },
        )

    def event(
        self,
        send_id: int,
        event_type: str,
        *,
        at: datetime = BASE_TIME,
        created_at: datetime | None = None,
        event_hash: str | None = _UNSET,
        sg_event_id: str | None = None,
        payload: dict | None = None,
    ) -> int:
        """event_hash omitted -> a unique hash; None -> NULL. sg_event_id goes into the payload."""
        payload = dict(payload or {})
        if sg_event_id is not None:
            payload["sg_event_id"] = sg_event_id
        return self._insert(
            "email_events",
            {
                "email_send_id": send_id,
                "event_type": event_type,
                "event_timestamp": at,
                "event_hash": f"hash-{next(self._n)}" if event_hash is _UNSET else event_hash,
                "payload": json.dumps(payload),
                "created_at": created_at or at,
            },
        )

    def execution(self, workflow_name: str, *, status: str = "success", at: datetime = BASE_TIME) -> int:
        return self._insert(
            "workflow_executions", {"workflow_name": workflow_name, "status": status, "created_at": at}
        )

    def workflow_error(
        self,
        workflow_name: str,
        *,
        at: datetime = BASE_TIME,
        message: str = "boom",
        node_name: str | None = None,
    ) -> int:
        return self._insert(
            "workflow_errors",
            {
                "workflow_name": workflow_name,
                "error_message": message,
                "node_name": node_name,
                "created_at": at,
            },
        )

    def analytics(
        self,
        campaign_id: int,
        day: date,
        *,
        emails_sent: int = 10,
        open_rate: float | None = 50,
        click_rate: float | None = 10,
        org_id=None,
        **columns: Any,
    ) -> int:
        """A campaign_analytics row written directly (for checks that read the table)."""
        return self._insert(
            "campaign_analytics",
            {
                "organization_id": org_id or self._campaign_org(campaign_id),
                "campaign_id": campaign_id,
                "analytics_date": day,
                "emails_sent_today": emails_sent,
                "open_rate": open_rate,
                "click_rate": click_rate,
                "computed_at": BASE_TIME,
                **columns,
            },
        )
