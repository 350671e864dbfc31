"""The morning health check's queries for the day before the run (runbook 1 "Daily Operations")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nurture_ops.core import db
from nurture_ops.core.settings import Settings
from nurture_ops.core.text import plain
from nurture_ops.core.windows import day_bounds, previous_day


def collect(conn, settings: Settings, at: datetime) -> dict[str, Any]:
    """Run the morning health queries for the day before `at`; small, JSON-friendly."""
    day = previous_day(at)
    window = day_bounds(day)
    kpi = settings.check("kpi_review")
    engagement = settings.check("low_engagement_rate")
    day_params = {"day": day, "day_start": window.start, "day_end": window.end, "as_of": at}
    return plain(
        {
            "day": day,
            "volume": db.fetch_one(conn, "checks/daily/measure_send_volume.sql", day_params),
            "enrollments": db.fetch_one(conn, "checks/daily/measure_active_enrollments.sql", day_params),
            "workflow_errors": db.fetch_one(conn, "checks/daily/measure_workflow_errors.sql", day_params),
            "kpis": db.fetch_one(conn, kpi.sql, {**day_params, **kpi.params}),
            "engagement": db.fetch_one(conn, engagement.sql, {**day_params, **engagement.params}),
        }
    )
