"""Runbook 7 "Weekly › Check SendGrid deliverability stats": SendGrid's Stats API reconciled day
by day with the database's own counts, and the spam-report rate against the bulk-sender limits.

    review_days(at)                        the 7 whole UTC days before the run's date
    database_counts(conn, first, last)     include/sql/review/count_deliverability_by_day.sql
    reconcile(ours, theirs, tolerance)     pure: one comparison per day and kind, gaps flagged
    spam_kpi(theirs, threshold)            pure: spam reports per delivered email, with its status
    review(conn, stats_or_error, ...)      the part's result (XCom)

A comparison's gap is |ours - theirs| in % of the larger of the two; past the tolerance
(catalog sendgrid_deliverability.gap_percent, 2 % by default, overridable in
nurture_ops_thresholds) it is flagged with its likely cause, which depends on which side is
larger (see COMPARISONS).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from nurture_ops.core import db
from nurture_ops.core.catalog import Check
from nurture_ops.core.evaluate import threshold_status
from nurture_ops.core.windows import as_utc

DAYS = 7

# (kind, what we count, SendGrid's metrics summed, cause when ours is higher, cause when SendGrid's is)
COMPARISONS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "sent",
        "sends recorded as sent or bounced",
        ("requests",),
        "sends recorded but never handed to SendGrid: the Email Sender marks a send sent before "
        "SendGrid accepted it",
        "SendGrid accepted emails the database does not record as sent: the Email Sender did not "
        "record them, or another system sends with this API key",
    ),
    (
        "bounced",
        "sends recorded as bounced",
        ("bounces", "blocks", "bounce_drops"),
        "sends marked bounced that SendGrid did not bounce that day (marked by hand, or a late bounce)",
        "SendGrid bounced emails the database still records as sent: the Event Tracker did not mark them bounced",
    ),
    ("delivered", "delivered events", ("delivered",), "", ""),
    ("bounce", "bounce events", ("bounces",), "", ""),
    ("blocked", "blocked (bounce type blocked) events", ("blocks",), "", ""),
    ("dropped", "dropped events", ("bounce_drops",), "", ""),
    ("spamreport", "spam report events", ("spam_reports",), "", ""),
    ("open", "emails with an open event", ("unique_opens",), "", ""),
    ("click", "emails with a click event", ("unique_clicks",), "", ""),
    ("unsubscribe", "unsubscribe events", ("unsubscribes",), "", ""),
)
COUNT_COLUMN = {"sent": "sent", "bounced": "bounced_sends"}


def _causes(kind: str, ours_higher: str, theirs_higher: str) -> tuple[str, str]:
    if ours_higher:
        return ours_higher, theirs_higher
    return (
        f"more {kind} events recorded than SendGrid counted: duplicates the deduplication missed, or "
        "events of another SendGrid account",
        f"the events webhook (Event Tracker) is dropping {kind} events",
    )


def review_days(at: datetime) -> tuple[date, date]:
    """The 7 whole UTC days before the run's date (SendGrid aggregates by day)."""
    last = as_utc(at).date() - timedelta(days=1)
    return last - timedelta(days=DAYS - 1), last


def database_counts(conn, first: date, last: date) -> dict[str, dict[str, int]]:
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    rows = db.fetch_all(
        conn,
        "review/count_deliverability_by_day.sql",
        {"first_day": first, "last_day": last, "window_start": start, "window_end": end},
    )
    return {row.pop("day").isoformat(): {k: int(v) for k, v in row.items()} for row in rows}


def gap_percent(ours: int, theirs: int) -> float:
    larger = max(ours, theirs)
    return 0.0 if larger == 0 else round(abs(ours - theirs) * 100 / larger, 2)


def reconcile(
    ours: dict[str, dict[str, int]], theirs: dict[str, dict[str, int]], tolerance: float
) -> dict[str, Any]:
    """Pure. Every day of `ours` (the review's days), every kind: both counts, the gap, flagged
    past `tolerance` % with the likely cause. A day SendGrid did not report counts as zeros."""
    comparisons = []
    for day, counts in ours.items():
        stats = theirs.get(day) or {}
        for kind, label, metrics, ours_higher, theirs_higher in COMPARISONS:
            mine = counts[COUNT_COLUMN.get(kind, kind)]
            sendgrid = sum(int(stats.get(m, 0)) for m in metrics)
            gap = gap_percent(mine, sendgrid)
            row = {
                "day": day,
                "kind": kind,
                "ours": mine,
                "ours_label": label,
                "sendgrid": sendgrid,
                "sendgrid_label": " + ".join(metrics),
                "difference": mine - sendgrid,
                "gap_percent": gap,
                "flagged": gap > tolerance,
            }
            if row["flagged"]:
                causes = _causes(kind, ours_higher, theirs_higher)
                row["likely_cause"] = causes[0] if mine > sendgrid else causes[1]
            comparisons.append(row)
    flagged = [c for c in comparisons if c["flagged"]]
    return {
        "tolerance_percent": tolerance,
        "days": len(ours),
        "comparisons": len(comparisons),
        "days_with_gaps": len({c["day"] for c in flagged}),
        "gap_percent": max((c["gap_percent"] for c in comparisons), default=0.0),
        "discrepancies": sorted(flagged, key=lambda c: (-c["gap_percent"], c["day"], c["kind"])),
    }


def spam_kpi(theirs: dict[str, dict[str, int]], check: Check) -> dict[str, Any]:
    """Spam reports per delivered email over the week (SendGrid's own counts), against the
    bulk-sender limits: status ok, warning (past the target) or critical (past the alert level)."""
    threshold = next(t for t in check.thresholds if t.metric == "spam_report_rate")
    reports = sum(int(s.get("spam_reports", 0)) for s in theirs.values())
    delivered = sum(int(s.get("delivered", 0)) for s in theirs.values())
    rate = round(reports * 100 / delivered, 3) if delivered else None
    return {
        "spam_reports": reports,
        "delivered": delivered,
        "spam_report_rate": rate,
        "target": threshold.target,
        "alert": threshold.alert,
        "status": threshold_status(threshold, rate, "critical"),
    }


def review(
    conn,
    theirs: dict[str, dict[str, int]] | None,
    check: Check,
    *,
    first: date,
    last: date,
    error: str | None = None,
) -> dict[str, Any]:
    """The weekly review's deliverability part: SendGrid's daily stats (or why there are none:
    "not configured: ..." / "API failed: ...") reconciled with the database's counts."""
    base = {"first_day": first.isoformat(), "last_day": last.isoformat()}
    if theirs is None:
        return {**base, "available": False, "reason": error or "no stats"}
    tolerance = next(t.alert for t in check.thresholds if t.metric == "gap_percent")
    ours = database_counts(conn, first, last)
    return {
        **base,
        "available": True,
        **reconcile(ours, theirs, tolerance),
        "spam": spam_kpi({d: s for d, s in theirs.items() if d in ours}, check),
        "sendgrid_requests": sum(int(theirs.get(d, {}).get("requests", 0)) for d in ours),
    }
