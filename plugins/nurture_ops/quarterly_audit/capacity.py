"""Runbook 5 "Scaling Guidelines" / 7 Quarterly "Review capacity and scaling needs".

`capacity_review`: for each of the runbook's limits (100,000 active enrollments, 100,000 emails a
day, 100 organizations) the current level, the growth over the quarter, the projected date the
limit is reached and the "When to Scale" section that applies (catalog.SCALING_GUIDELINES).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from nurture_ops.core import db
from nurture_ops.core.catalog import SCALING_GUIDELINES
from nurture_ops.core.windows import as_utc

# Runbook 5 "Current Capacity", and which "When to Scale" sections a limit leads to: more active
# enrollments mean bigger scheduler scans (database) and bigger scheduler batches (N8n); more
# emails per day is SendGrid's own trigger ("> 100K/day") and the sender workflow's load (N8n);
# more organizations mean more data and concurrent tenants in one database.
CAPACITY_LIMITS: dict[str, dict[str, Any]] = {
    "active_enrollments": {
        "limit": 100_000,
        "runbook": "Leads: Up to 100,000 active enrollments",
        "scaling": ("database", "n8n"),
    },
    "emails_per_day": {
        "limit": 100_000,
        "runbook": "Emails: Up to 100,000 per day",
        "scaling": ("sendgrid", "n8n"),
    },
    "organizations": {
        "limit": 100,
        "runbook": "Organizations: Up to 100",
        "scaling": ("database",),
    },
}


# Status of a limit: over_limit (reached), act (>= 80 % or reached within a quarter, before the
# next audit), plan (reached within a year), ok.
ACT_PERCENT = 80.0


ACT_WITHIN_DAYS = 90


PLAN_WITHIN_DAYS = 365


PROJECTION_HORIZON_DAYS = 100 * 365


STATUS_ORDER = ("ok", "plan", "act", "over_limit")


WEEK = timedelta(days=7)


def _projection(
    current: float, first: float, last: float, span_days: float | None, limit: float, as_of: datetime
) -> dict[str, Any]:
    """Linear growth from the first to the last week; when `current` reaches `limit` at that rate."""
    growth_per_day = None if span_days is None else (last - first) / span_days
    percent = current * 100.0 / limit
    days_to_limit: float | None = None
    projected: str | None = None
    if current >= limit:
        days_to_limit, projected = 0.0, as_of.date().isoformat()
    elif growth_per_day is not None and growth_per_day > 0:
        days_to_limit = (limit - current) / growth_per_day
        if days_to_limit <= PROJECTION_HORIZON_DAYS:  # beyond: no date (and no year-9999 overflow)
            projected = (as_of + timedelta(days=days_to_limit)).date().isoformat()
    if current >= limit:
        status = "over_limit"
    elif percent >= ACT_PERCENT or (days_to_limit is not None and days_to_limit <= ACT_WITHIN_DAYS):
        status = "act"
    elif days_to_limit is not None and days_to_limit <= PLAN_WITHIN_DAYS:
        status = "plan"
    else:
        status = "ok"
    return {
        "growth_per_day": None if growth_per_day is None else round(growth_per_day, 3),
        "growth_percent_over_quarter": round((last - first) * 100.0 / first, 1) if first else None,
        "percent_of_limit": round(percent, 2),
        "days_to_limit": None if days_to_limit is None else round(days_to_limit, 1),
        "projected_limit_date": projected,
        "status": status,
    }


def capacity_review(
    conn: psycopg.Connection,
    *,
    as_of: datetime,
    quarter_start: datetime,
    limits: dict[str, float] | None = None,
) -> dict:
    """Each runbook limit: current level, growth over the quarter, projected date, scaling action.

    Current levels: active enrollments now (status = 'active'); emails per day = the average of
    the 7 days (24-hour periods) before as_of — an average, so one campaign blast does not read
    as a trend and the level matches the weekly growth measure; the busiest of those days is
    reported beside it, since SendGrid's daily cap is hit by a single day; organizations now.
    limits overrides the runbook's (e.g. {"emails_per_day": 300_000} after a SendGrid upgrade).
    Growth: the quarter's first week [quarter_start, +7 days) against its last week
    [as_of - 7 days, as_of), divided by the days between them, i.e. a linear rate; the projected
    date is when the current level reaches the limit at that rate (None when not growing).
    """
    as_of, quarter_start = as_utc(as_of), as_utc(quarter_start)
    if as_of <= quarter_start:
        raise ValueError("as_of must be after quarter_start")
    first_week_end = quarter_start + WEEK
    span_days = (as_of - first_week_end).total_seconds() / 86400
    span = span_days if span_days > 0 else None  # a quarter shorter than two weeks: no rate
    row = db.fetch_one(
        conn,
        "audit/measure_capacity.sql",
        {
            "as_of": as_of,
            "quarter_start": quarter_start,
            "first_week_end": first_week_end,
            "last_week_start": as_of - WEEK,
        },
    )
    levels = {
        # (current, first week, last week): enrollments' growth uses the timestamp estimate for
        # both weeks (see the SQL), applied to the exact current count.
        "active_enrollments": (
            row["active_enrollments"],
            row["enrollments_first_week_estimate"],
            row["enrollments_last_week_estimate"],
        ),
        "emails_per_day": (
            row["emails_last_week"] / 7,
            row["emails_first_week"] / 7,
            row["emails_last_week"] / 7,
        ),
        "organizations": (row["organizations"], row["organizations_first_week"], row["organizations"]),
    }
    metrics: dict[str, Any] = {}
    for key, (current, first, last) in levels.items():
        spec = CAPACITY_LIMITS[key]
        limit = (limits or {}).get(key, spec["limit"])
        metric = {
            "current": round(float(current), 1),
            "limit": limit,
            "runbook": spec["runbook"],
            "first_week": round(float(first), 1),
            "last_week": round(float(last), 1),
            **_projection(float(current), float(first), float(last), span, limit, as_of),
        }
        if metric["status"] != "ok":
            metric["scaling"] = list(spec["scaling"])
        metrics[key] = metric
    metrics["emails_per_day"]["busiest_day"] = row["busiest_day_emails"]
    metrics["emails_per_day"]["busiest_day_percent_of_limit"] = round(
        row["busiest_day_emails"] * 100.0 / metrics["emails_per_day"]["limit"], 2
    )
    sections = sorted({s for m in metrics.values() for s in m.get("scaling", [])})
    return {
        "as_of": as_of.isoformat(),
        "quarter_start": quarter_start.isoformat(),
        "growth_span_days": None if span is None else round(span, 2),
        "emails_measure": "average emails sent (actual_send_time) per 24 h over the 7 days before as_of; "
        "busiest_day is the largest of those 7 days",
        "status": max((m["status"] for m in metrics.values()), key=STATUS_ORDER.index),
        "metrics": metrics,
        "scaling": {
            s: {
                "section": SCALING_GUIDELINES[s]["section"],
                "trigger": SCALING_GUIDELINES[s]["trigger"],
                "actions": list(SCALING_GUIDELINES[s]["actions"]),
            }
            for s in sections
        },
    }
