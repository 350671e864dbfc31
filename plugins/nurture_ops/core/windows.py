"""Time windows from the run, never from the wall clock.

A window ends at the run's time: its logical date (a scheduled run's scheduled time; DATE for
`airflow dags test DAG DATE`), or `run_after` for a manual run without one. So a rerun of a past
run evaluates that past window, and a backfilled day gives that day's answer. All windows are
half-open, [start, end), on raw timestamps.

Also the longer periods of the slow cadences: the week and the quarter ending at the run.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def params(self) -> dict[str, datetime]:
        return {"window_start": self.start, "window_end": self.end}


def as_utc(value: datetime | date) -> datetime:
    """A plain stdlib UTC datetime: Airflow hands out pendulum ones, naive means UTC, and a date
    is its midnight UTC."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def run_time(context: Any) -> datetime:
    """The instant this run evaluates (UTC)."""
    logical = context.get("logical_date")
    if logical is not None:
        return as_utc(logical)
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after is None:
        raise ValueError("The run has neither a logical date nor run_after; cannot anchor the time window")
    return as_utc(run_after)


def lookback(end: datetime, length: timedelta) -> Window:
    return Window(end - length, end)


def day_bounds(day: date) -> Window:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def previous_day(at: datetime) -> date:
    """The day before the run's UTC date: what a morning job reports on."""
    return as_utc(at).date() - timedelta(days=1)


# -- the slow cadences' periods -------------------------------------------------------------

WEEK = timedelta(days=7)


QUARTER_MONTHS = 3


def week_window(at: datetime) -> Window:
    """The 7 days ending at the run's instant, half-open: [at - 7 days, at)."""
    at = as_utc(at)
    return Window(at - WEEK, at)


def months_before(at: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the day clamped to the month's end)."""
    years, month0 = divmod(at.month - 1 - months, 12)
    year, month = at.year + years, month0 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def quarter_window(at: datetime) -> Window:
    """The 3 months ending at the run's instant, half-open: [at - 3 months, at)."""
    at = as_utc(at)
    return Window(months_before(at, QUARTER_MONTHS), at)
