"""Campaign analytics: the runbook's "Analytics Updater" (Issue 5), fixed, plus backfill and gaps.

One code path writes campaign_analytics: `rollup_day()`. The daily rollup, the gap filler of the
daily health check (`missing_analytics_days()` then `rollup_day()` per day) and the manual
backfill (`parse_backfill_range()` then `backfill()`) all go through it.

An analytics day is a UTC day: day D covers email_sends.actual_send_time in
[D 00:00 UTC, D+1 00:00 UTC) (`nurture_ops.windows.day_bounds`). What a day's row holds is
documented in include/sql/analytics/upsert_campaign_analytics.sql.

Every function takes a psycopg 3 connection (autocommit or not) and runs no Airflow code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

import psycopg

from nurture_ops.core import db
from nurture_ops.core.windows import day_bounds

UPSERT_SQL = "analytics/upsert_campaign_analytics.sql"
LIST_MISSING_SQL = "analytics/list_missing_analytics_days.sql"
DEFAULT_MAX_BACKFILL_DAYS = 400

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_day(day: date, name: str = "day") -> None:
    # datetime is a subclass of date: refuse it rather than silently dropping its time.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"{name} must be a datetime.date, got {type(day).__name__} {day!r}")


def _check_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime (e.g. datetime.now(UTC)), got {value!r}: "
            "a naive one would be read in the database session's time zone"
        )


def _rollup(conn: psycopg.Connection, day: date, computed_at: datetime) -> dict[str, int]:
    _check_day(day)
    _check_aware(computed_at, "computed_at")
    window = day_bounds(day)
    params = {"day": day, "day_start": window.start, "day_end": window.end, "computed_at": computed_at}
    with conn.transaction():
        row = db.fetch_one(conn, UPSERT_SQL, params)
    return {"rows_upserted": int(row["rows_upserted"]), "rows_deleted": int(row["rows_deleted"])}


def rollup_day(conn: psycopg.Connection, day: date, computed_at: datetime) -> int:
    """Recompute campaign_analytics of one UTC day in one transaction; returns the rows upserted.

    One row per campaign that sent that day; rows of that day for campaigns that no longer have
    sends are removed (unless the day has no sends at all, e.g. archived). Rerunning over
    unchanged data with the same `computed_at` writes identical rows.
    """
    return _rollup(conn, day, computed_at)["rows_upserted"]


def _parse_one(params: dict, key: str) -> date | None:
    value = params.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        raise ValueError(f"{key} must be a date (YYYY-MM-DD), not a date and time ({value!r})")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a date written YYYY-MM-DD, e.g. 2026-05-03; got {value!r}")
    text = value.strip()
    if not _ISO_DATE.match(text):
        raise ValueError(f"{key} {value!r} is not written YYYY-MM-DD: use e.g. 2026-05-03")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{key} {value!r} is not a valid date ({exc}): use a real date, e.g. 2026-05-03"
        ) from None


def parse_backfill_range(
    params: dict,
    *,
    latest_allowed: date,
    max_days: int = DEFAULT_MAX_BACKFILL_DAYS,
    earliest_allowed: date | None = None,
) -> list[date] | None:
    """The days a backfill run asks for (`start_date`, `end_date`, both inclusive, YYYY-MM-DD).

    None when neither is given (no backfill). Raises ValueError, saying what is wrong and how to
    fix it, for: a malformed date, only one of the two, start after end, end after
    `latest_allowed` (the last complete day of the run, normally yesterday UTC), more than
    `max_days` days, and (when given) start before `earliest_allowed` (e.g. the first day whose
    sends are not archived: recomputing a partly archived day would undercount it).
    """
    _check_day(latest_allowed, "latest_allowed")
    if earliest_allowed is not None:
        _check_day(earliest_allowed, "earliest_allowed")
    start = _parse_one(params, "start_date")
    end = _parse_one(params, "end_date")
    if start is None and end is None:
        return None
    if start is None or end is None:
        given, missing = ("start_date", "end_date") if end is None else ("end_date", "start_date")
        raise ValueError(
            f"{given} is set but {missing} is empty: give both start_date and end_date "
            "(YYYY-MM-DD, inclusive; equal for a single day), or neither for no backfill"
        )
    if start > end:
        raise ValueError(
            f"start_date {start.isoformat()} is after end_date {end.isoformat()}: "
            f"swap them (start_date={end.isoformat()}, end_date={start.isoformat()})"
        )
    if end > latest_allowed:
        raise ValueError(
            f"end_date {end.isoformat()} is after {latest_allowed.isoformat()}, the last complete day "
            "of this run (a later day is still receiving sends): "
            f"use end_date <= {latest_allowed.isoformat()}"
        )
    if earliest_allowed is not None and start < earliest_allowed:
        raise ValueError(
            f"start_date {start.isoformat()} is before {earliest_allowed.isoformat()}, the first day whose "
            f"sends are all still in email_sends (older ones are archived, so their analytics are kept as "
            f"they are): use start_date >= {earliest_allowed.isoformat()}"
        )
    count = (end - start).days + 1
    if count > max_days:
        first_chunk_end = start + timedelta(days=max_days - 1)
        raise ValueError(
            f"{start.isoformat()}..{end.isoformat()} is {count} days, more than the {max_days} allowed "
            f"in one run: split it into several runs, e.g. start_date={start.isoformat()} "
            f"end_date={first_chunk_end.isoformat()} first"
        )
    return [start + timedelta(days=i) for i in range(count)]


def backfill(
    conn: psycopg.Connection,
    days: Iterable[date],
    computed_at: datetime,
    log: Callable[[str], object] = print,
) -> dict:
    """Roll up each day in order, each in its own transaction, logging one line per day.

    A failing day stops the backfill: the days before it stay committed, the error says where to
    resume. Returns totals: days, campaign_rows, rows_deleted, days_without_sends, first_day,
    last_day (ISO dates or None).
    """
    days = list(days)
    _check_aware(computed_at, "computed_at")
    if not conn.autocommit and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError(
            "backfill needs a connection without an open transaction (commit first, or pass an "
            "autocommit connection): each day must be committed on its own"
        )
    totals = {"days": 0, "campaign_rows": 0, "rows_deleted": 0, "days_without_sends": 0}
    for number, day in enumerate(days, start=1):
        try:
            counts = _rollup(conn, day, computed_at)
        except Exception as exc:
            log(
                f"day {number}/{len(days)}: {day} failed ({type(exc).__name__}: {exc}); "
                f"days before it are committed; resume with start_date={day}"
            )
            raise
        totals["days"] += 1
        totals["campaign_rows"] += counts["rows_upserted"]
        totals["rows_deleted"] += counts["rows_deleted"]
        if counts["rows_upserted"] == 0:
            totals["days_without_sends"] += 1
        line = f"day {number}/{len(days)}: {day.isoformat()}, {counts['rows_upserted']} campaign rows"
        if counts["rows_deleted"]:
            line += f", {counts['rows_deleted']} stale rows removed"
        log(line)
    totals["first_day"] = days[0].isoformat() if days else None
    totals["last_day"] = days[-1].isoformat() if days else None
    return totals


def missing_analytics_days(conn: psycopg.Connection, lookback_start: date, day: date) -> list[date]:
    """Days in [lookback_start, day] where a campaign sent but has no campaign_analytics row."""
    _check_day(lookback_start, "lookback_start")
    _check_day(day)
    if lookback_start > day:
        raise ValueError(f"lookback_start {lookback_start} is after day {day}")
    rows = db.fetch_all(conn, LIST_MISSING_SQL, {"lookback_start": lookback_start, "day": day})
    return [row["analytics_date"] for row in rows]
