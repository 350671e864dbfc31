"""Campaign analytics: the runbook's "Analytics Updater" (Issue 5), fixed, plus backfill and gaps.

One code path writes campaign_analytics: `rollup_day()`. The daily rollup, the gap filler of the
daily health check (`missing_analytics_days()` then `rollup_day()` per day) and the manual
backfill (`parse_backfill_range()` then `backfill()`) all go through it.

An analytics day is a UTC day: day D covers email_sends.actual_send_time in
[D 00:00 UTC, D+1 00:00 UTC) (`nurture_ops.windows.day_bounds`). What a day's row holds is
documented in include/sql/analytics/upsert_campaign_analytics.sql.

Archived days stay right. The annual archive moves sends created before its cutoff, with their
events, to email_sends_archive / email_events_archive; it cuts on created_at while a day is counted
on actual_send_time, so a day can be partly archived. The rollup and the gap finder read the live
and the archive tables together (each send once, its live copy if it is in both), so recomputing
any day, archived, partly archived or live, gives the numbers it had before the archive moved
anything. On a database where the archive has never run the archive tables do not exist: the SQL
is rendered without them (analytics/select_archive_sources.sql, checked in the rollup's own
transaction), and nothing is created. The rollup of one day stays a window scan when
email_sends_archive has an index on actual_send_time (analytics/create_archive_send_time_index.sql,
`ensure_archive_send_time_index()`); without one it still gives the right numbers, scanning the
whole archive, and logs a warning saying how to fix it.

Every function takes a psycopg 3 connection (autocommit or not) and runs no Airflow code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from nurture_ops.core import db, sql
from nurture_ops.core.windows import day_bounds

UPSERT_SQL = "analytics/upsert_campaign_analytics.sql"
LIST_MISSING_SQL = "analytics/list_missing_analytics_days.sql"
ARCHIVE_SOURCES_SQL = "analytics/select_archive_sources.sql"
ARCHIVE_INDEX_SQL = "analytics/create_archive_send_time_index.sql"
DEFAULT_MAX_BACKFILL_DAYS = 400
# The Airflow Variable that sets max_days (read by nurture_ops.core.settings; named in messages).
MAX_DAYS_VARIABLE = "nurture_ops_backfill_max_days"

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ArchiveSources:
    """Which archive tables exist, hence which the analytics SQL reads (its Jinja flags)."""

    sends_archive: bool = False
    events_archive: bool = False
    sends_archive_indexed: bool = False

    @property
    def jinja(self) -> dict[str, bool]:
        return {"sends_archive": self.sends_archive, "events_archive": self.events_archive}

    @property
    def unindexed_warning(self) -> str | None:
        """Why a rollup would scan the whole sends archive, and the fix (None: it would not)."""
        if not self.sends_archive or self.sends_archive_indexed:
            return None
        return (
            "email_sends_archive has no index on actual_send_time: every rolled-up day scans the whole "
            "archive (the numbers stay right, only slower). The next annual archive run creates it "
            f"(archive/create_archive_tables.sql); to create it now: include/sql/{ARCHIVE_INDEX_SQL}"
        )


def archive_sources(conn: psycopg.Connection) -> ArchiveSources:
    """The archive tables the rollup and the gap finder read besides the live ones (read-only)."""
    row = db.fetch_one(conn, ARCHIVE_SOURCES_SQL, {})
    return ArchiveSources(
        sends_archive=bool(row["sends_archive"]),
        events_archive=bool(row["events_archive"]),
        sends_archive_indexed=bool(row["sends_archive_indexed"]),
    )


def ensure_archive_send_time_index(conn: psycopg.Connection) -> bool:
    """Create the index the rollup needs on email_sends_archive(actual_send_time) if missing.

    For whoever creates the archive tables (right after archive/create_archive_tables.sql). Runs in
    the caller's transaction; returns False, doing nothing, when the archive table does not exist.
    """
    if not archive_sources(conn).sends_archive:
        return False
    db.execute(conn, ARCHIVE_INDEX_SQL, {})
    return True


def render_upsert(conn: psycopg.Connection, sources: ArchiveSources | None = None) -> str:
    """The rollup's SQL as it runs on this database (for EXPLAIN and the bench)."""
    sources = archive_sources(conn) if sources is None else sources
    return sql.render(UPSERT_SQL, **sources.jinja)


def _rollup(conn: psycopg.Connection, day: date, computed_at: datetime, *, warn: bool) -> dict[str, int]:
    _check_day(day)
    _check_aware(computed_at, "computed_at")
    window = day_bounds(day)
    params = {"day": day, "day_start": window.start, "day_end": window.end, "computed_at": computed_at}
    # The archive tables are looked up in the rollup's transaction. Were they absent, and did the
    # first archive run create them and move rows of this day between that look-up and the upsert's
    # snapshot, the upsert would have missed those rows: so an absent table is looked up again after
    # the upsert, and if it appeared the day is rolled back and recomputed reading it.
    for _attempt in range(2):
        with conn.transaction():
            sources = archive_sources(conn)
            row = db.fetch_one(conn, UPSERT_SQL, params, **sources.jinja)
            complete = sources.sends_archive and sources.events_archive
            if complete or archive_sources(conn).jinja == sources.jinja:
                if warn and sources.unindexed_warning:
                    logger.warning("rollup of %s: %s", day.isoformat(), sources.unindexed_warning)
                return {"rows_upserted": int(row["rows_upserted"]), "rows_deleted": int(row["rows_deleted"])}
            raise psycopg.Rollback()
    raise RuntimeError(
        f"rollup of {day.isoformat()}: the archive tables changed twice while it ran; nothing was written "
        "for that day: run it again"
    )


def rollup_day(conn: psycopg.Connection, day: date, computed_at: datetime) -> int:
    """Recompute campaign_analytics of one UTC day in one transaction; returns the rows upserted.

    One row per campaign that sent that day, counting its live and its archived sends and events,
    so an archived or partly archived day gets the numbers it had before archiving. Rows of that
    day for campaigns that no longer have sends are removed (unless the day has no sends at all,
    live or archived, e.g. deleted: its history is kept). Rerunning over unchanged data with the
    same `computed_at` writes identical rows.
    """
    return _rollup(conn, day, computed_at, warn=True)["rows_upserted"]


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
    `max_days` days, a start more than `max_days` days before `latest_allowed` (so a single old day
    is refused like a long range: the Variable nurture_ops_backfill_max_days bounds how far back a
    backfill reaches, not only its length), and (when given) start before `earliest_allowed`.
    Archived days need no bound of their own: the rollup reads the archive tables too.
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
            f"start_date {start.isoformat()} is before {earliest_allowed.isoformat()}, the earliest day "
            f"this run may recompute: use start_date >= {earliest_allowed.isoformat()}"
        )
    count = (end - start).days + 1
    if count > max_days:
        first_chunk_end = start + timedelta(days=max_days - 1)
        raise ValueError(
            f"{start.isoformat()}..{end.isoformat()} is {count} days, more than the {max_days} allowed "
            f"in one run: split it into several runs, e.g. start_date={start.isoformat()} "
            f"end_date={first_chunk_end.isoformat()} first (the limit is the Variable {MAX_DAYS_VARIABLE})"
        )
    age = (latest_allowed - start).days
    if age > max_days:
        earliest = latest_allowed - timedelta(days=max_days)
        raise ValueError(
            f"start_date {start.isoformat()} is {age} days before {latest_allowed.isoformat()}, the last "
            f"complete day of this run; a backfill may reach back at most {max_days} days (Variable "
            f"{MAX_DAYS_VARIABLE}): use start_date >= {earliest.isoformat()}, or, if a day that old is "
            f"meant, raise {MAX_DAYS_VARIABLE} to at least {age} for this run"
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
    resume. Archived and partly archived days are recomputed from the live and archive tables
    together (see the module docstring). Returns totals: days, campaign_rows, rows_deleted,
    days_without_sends, first_day, last_day (ISO dates or None).
    """
    days = list(days)
    _check_aware(computed_at, "computed_at")
    if not conn.autocommit and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError(
            "backfill needs a connection without an open transaction (commit first, or pass an "
            "autocommit connection): each day must be committed on its own"
        )
    totals = {"days": 0, "campaign_rows": 0, "rows_deleted": 0, "days_without_sends": 0}
    if days:
        with conn.transaction():  # not left open: each day below commits on its own
            warning = archive_sources(conn).unindexed_warning  # said once, not once per day
        if warning:
            log(f"warning: {warning}")
    for number, day in enumerate(days, start=1):
        try:
            counts = _rollup(conn, day, computed_at, warn=False)
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
    """Days in [lookback_start, day] where a campaign sent (live or archived sends) but has no
    campaign_analytics row; `rollup_day()` of each fills it exactly."""
    _check_day(lookback_start, "lookback_start")
    _check_day(day)
    if lookback_start > day:
        raise ValueError(f"lookback_start {lookback_start} is after day {day}")
    sources = archive_sources(conn)
    rows = db.fetch_all(
        conn,
        LIST_MISSING_SQL,
        {"lookback_start": lookback_start, "day": day},
        sends_archive=sources.sends_archive,
    )
    return [row["analytics_date"] for row in rows]
