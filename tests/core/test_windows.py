"""core.windows: the periods of the slow cadences end at the run."""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum

from nurture_ops.core import windows
from nurture_ops.core.windows import Window


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RUN = utc("2026-11-09 07:00")


WEEK = Window(utc("2026-11-02 07:00"), RUN)


def test_week_and_quarter_end_at_the_run():
    assert windows.week_window(RUN) == WEEK
    assert windows.quarter_window(utc("2026-10-01 08:00")) == Window(
        utc("2026-07-01 08:00"), utc("2026-10-01 08:00")
    )
    assert windows.quarter_window(utc("2026-01-01 08:00")).start == utc("2025-10-01 08:00")  # across a year
    assert windows.quarter_window(utc("2026-05-31 08:00")).start == utc("2026-02-28 08:00")  # clamped
    # The task context's logical date is a pendulum DateTime: the window is plain UTC datetimes.
    window = windows.quarter_window(pendulum.datetime(2026, 10, 1, 8, tz="UTC"))
    assert type(window.start) is datetime and window.start.tzinfo is UTC
    assert (window.end - window.start).days == 92
