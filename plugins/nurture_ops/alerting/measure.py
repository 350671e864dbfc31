"""A check's SQL run for the run's window: its bind parameters and the one metrics row."""

from __future__ import annotations

from datetime import datetime, timedelta

from nurture_ops.core import db
from nurture_ops.core.catalog import Check
from nurture_ops.core.text import plain
from nurture_ops.core.windows import Window, day_bounds, lookback, previous_day


def measure_params(check: Check, at: datetime) -> tuple[Window, dict]:
    """Bind parameters of a check's SQL: its thresholds' params, the run's time (as_of), and its
    window: the lookback ending at the run, or for daily checks the day before the run's date."""
    params = {**check.params, "as_of": at}
    if check.cadence == "daily":
        day = previous_day(at)
        window = day_bounds(day)
        lookback_days = int(check.params.get("lookback_days", 14))
        params.update(
            day=day,
            day_start=window.start,
            day_end=window.end,
            lookback_start=day - timedelta(days=lookback_days - 1),
        )
    else:
        window = lookback(at, check.lookback) if check.lookback else Window(at, at)
    return window, {**params, **window.params()}


def run_measure(conn, check: Check, at: datetime) -> dict:
    _, params = measure_params(check, at)
    return plain(db.fetch_one(conn, check.sql, params) or {})
