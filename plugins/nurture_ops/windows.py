"""Time windows from the run, never from the wall clock.

A window ends at the run's time: its logical date (a scheduled run's scheduled time; DATE for
`airflow dags test DAG DATE`), or `run_after` for a manual run without one. So a rerun of a past
run evaluates that past window, and a backfilled day gives that day's answer. All windows are
half-open, [start, end), on raw timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def params(self) -> dict[str, datetime]:
        return {"window_start": self.start, "window_end": self.end}


def _aware(value: datetime) -> datetime:
    """A plain stdlib UTC datetime (Airflow hands out pendulum ones; naive means UTC)."""
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
        return _aware(logical)
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after is None:
        raise ValueError("The run has neither a logical date nor run_after; cannot anchor the time window")
    return _aware(run_after)


def lookback(end: datetime, length: timedelta) -> Window:
    return Window(end - length, end)


def day_bounds(day: date) -> Window:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


def previous_day(at: datetime) -> date:
    """The day before the run's UTC date: what a morning job reports on."""
    return _aware(at).date() - timedelta(days=1)
