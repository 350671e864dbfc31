"""Runbook 7 "Monthly": "Review and optimize slow workflows": errors and executions per workflow."""

from __future__ import annotations

from datetime import datetime

from nurture_ops.core import db
from nurture_ops.core.text import plain
from nurture_ops.core.windows import months_before

TOP_WORKFLOWS = 10


def review_workflow_errors(conn, *, at: datetime, limit: int = TOP_WORKFLOWS) -> dict:
    """Runbook "Review and optimize slow workflows": per workflow, errors in the month ending at
    `at` vs the month before (trend), and the month's executions (count, mean/max duration_ms)."""
    month_start, previous_start = months_before(at, 1), months_before(at, 2)
    rows = [
        plain(r)
        for r in db.fetch_all(
            conn,
            "maintenance/review_workflow_errors.sql",
            {"previous_start": previous_start, "month_start": month_start, "month_end": at},
        )
    ]
    errors = sum(r["error_count"] for r in rows)
    previous = sum(r["previous_error_count"] for r in rows)
    return {
        "month_start": month_start.isoformat(),
        "month_end": at.isoformat(),
        "previous_start": previous_start.isoformat(),
        "error_count": errors,
        "previous_error_count": previous,
        "trend": _trend(errors, previous),
        "rising": [r["workflow_name"] for r in rows if r["trend"] in ("up", "new")],
        "workflow_count": len(rows),
        "workflows": rows[:limit],
    }


def _trend(now: int, before: int) -> str:
    if now and not before:
        return "new"
    if now > before:
        return "up"
    if now < before:
        return "down"
    return "same" if now else "none"
