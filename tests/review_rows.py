"""Rows for the review and audit tests: every timestamp is explicit (never the database's now())."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any


def utc(text: str) -> datetime:
    """utc("2026-11-02 12:00:30") -> an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


EPOCH = utc("2026-01-01 00:00")


class Rows:
    def __init__(self, conn):
        self.conn = conn
        self._n = itertools.count(1)

    def insert(self, table: str, **values: Any) -> Any:
        columns = ", ".join(values)
        placeholders = ", ".join(f"%({k})s" for k in values)
        with self.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", values)
            return cur.fetchone()[0]

    def org(self, *, created_at: datetime = EPOCH):
        return self.insert("organizations", name=f"Org {next(self._n)}", created_at=created_at)

    def campaign(self, org, name: str | None = None) -> int:
        return self.insert(
            "nurture_campaigns", organization_id=org, campaign_name=name or f"Campaign {next(self._n)}"
        )

    def lead(self, org) -> int:
        n = next(self._n)
        return self.insert("leads", organization_id=org, name=f"Lead {n}", email=f"lead{n}@example.com")

    def send(
        self,
        org,
        campaign,
        *,
        due: datetime,
        status: str = "sent",
        sent_at: datetime | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        lead=None,
    ) -> int:
        lead = lead if lead is not None else self.lead(org)
        created = created_at or due
        return self.insert(
            "email_sends",
            organization_id=org,
            lead_id=lead,
            campaign_id=campaign,
            send_status=status,
            scheduled_send_time=due,
            actual_send_time=sent_at,
            created_at=created,
            updated_at=updated_at or sent_at or created,
        )

    def event(self, send_id, event_type: str, *, at: datetime, payload: dict | None = None) -> int:
        return self.insert(
            "email_events",
            email_send_id=send_id,
            event_type=event_type,
            event_timestamp=at,
            payload=json.dumps(payload or {}),
            created_at=at,
        )

    def execution(self, name: str, *, at: datetime, items: int | None, duration_ms: int | None) -> int:
        return self.insert(
            "workflow_executions",
            workflow_name=name,
            items_processed=items,
            duration_ms=duration_ms,
            created_at=at,
        )

    def enrollment(
        self,
        org,
        campaign,
        *,
        created_at: datetime,
        status: str = "active",
        completed_at: datetime | None = None,
    ) -> int:
        return self.insert(
            "lead_campaign_enrollments",
            organization_id=org,
            campaign_id=campaign,
            lead_id=self.lead(org),
            status=status,
            created_at=created_at,
            updated_at=completed_at or created_at,
            completed_at=completed_at,
        )
