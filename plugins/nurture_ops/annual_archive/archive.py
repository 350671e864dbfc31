"""Runbook 7 "Annually": "Archive old data (> 1 year)".

`archive_sends_and_events` moves email_sends created before the cutoff, with every event of those
sends (nothing dangles), into email_sends_archive and email_events_archive in short batches, with
the guarantees of `nurture_ops.core.archiving` (whole batches, no silent duplicates, reconciled
totals, one run at a time, each batch bounded by lock, statement and idle timeouts).
`parse_cutoff` turns the trigger param into a cutoff date and refuses one less than 365 days
before the run, before anything is written. "Before the run" means before the earlier of the
run's date and today, by the wall clock (and, in `archive_sends_and_events`, the database's
clock too): `airflow dags test nurture_annual_archive 2100-01-02` is refused, it does not archive
the sends created today.

What the sender and the Event Tracker see while the archive runs (PostgreSQL, READ COMMITTED):

- A batch locks its sends (SELECT ... FOR UPDATE SKIP LOCKED), then moves their events, then the
  sends, and commits: one short transaction (DEFAULT_SENDS_BATCH_SIZE = 1,000 sends with their
  events, a few tens of milliseconds here; every statement at most 60 s, every lock wait at most
  5 s, the session ended by PostgreSQL if the worker stalls 60 s inside it).
- An event INSERT for a send the open batch holds (its foreign-key check needs a KEY SHARE lock
  on the send) waits until the batch ends, i.e. at most one batch's duration. Then exactly one of:
  the batch committed, the send has moved, and the INSERT fails with a foreign-key violation
  (SQLSTATE 23503, constraint email_events_email_send_id_fkey; 40001 under REPEATABLE READ or
  SERIALIZABLE); or the batch rolled back (lock timeout, crash, stalled worker), the send is still
  live, and the INSERT succeeds, its event live with its send, moved with it by the next batch or
  run. The archive never fails because of such an insert.
- An event INSERT for a send that an insert still in progress has locked first: the batch skips
  that send (SKIP LOCKED); it stays live with all its events and the next run moves it.
- An event committed before its send's batch starts is moved with the send (and counted as
  "arrived during the run" when it came after the counts before).
- An event for a send already archived fails at once with the same foreign-key violation: the
  database never stores an event whose send is not live. The package does not store those
  events anywhere: the Event Tracker gets the error (an Event Tracker workflow error, which the
  daily workflow-errors check counts). They are events of sends more than a year old; a tracker
  that must keep them can insert them into email_events_archive when email_sends_archive has the
  send.
So nothing already stored is lost: every event ends up live with its live send or archived with
its archived send, and an event the database refuses is refused to its sender, never dropped
silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import psycopg

from nurture_ops.core import archiving, db

MIN_ARCHIVE_AGE_DAYS = 365


# Sends per batch by default: small, so that an event insert racing a batch waits little.
DEFAULT_SENDS_BATCH_SIZE = 1_000


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


ARCHIVE_LOCK_KEY = archiving.lock_key("nurture_ops.archive_sends_and_events")


ARCHIVE = archiving.MoveSpec(
    "cutoff", MIN_ARCHIVE_AGE_DAYS, "archive of old sends and events", "archive", ARCHIVE_LOCK_KEY
)


def _one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def parse_cutoff(params: dict | None, *, run_date: date, today: date | None = None) -> date:
    """The archive cutoff: params["cutoff_date"] (YYYY-MM-DD), or run_date minus one year.

    Raises ValueError for a malformed date, a cutoff after the run date, or one less than 365 days
    before the earlier of the run date and `today` (by default today's date by the wall clock,
    `archiving.clock_today`): archiving recent data is the case to refuse, also when the run is
    dated in the future.
    """
    if isinstance(run_date, datetime):
        run_date = run_date.date()
    default = _one_year_before(run_date)
    raw = (params or {}).get("cutoff_date")
    given = not (raw is None or (isinstance(raw, str) and not raw.strip()))
    if not given:
        cutoff = default
    elif isinstance(raw, datetime):
        raise ValueError(
            f"cutoff_date must be a date (YYYY-MM-DD), not a date and time: got {raw.isoformat()!r}."
        )
    elif isinstance(raw, date):
        cutoff = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(
                f"cutoff_date {raw!r} is not a date in the form YYYY-MM-DD (e.g. {default.isoformat()}). "
                "Leave it empty to archive data older than one year."
            )
        try:
            cutoff = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"cutoff_date {raw!r} is not a valid calendar date ({exc}).") from None
    else:
        raise ValueError(f"cutoff_date must be a string YYYY-MM-DD, got {type(raw).__name__}: {raw!r}.")

    latest = run_date - timedelta(days=MIN_ARCHIVE_AGE_DAYS)
    if cutoff > run_date:
        raise ValueError(
            f"cutoff_date {cutoff.isoformat()} is after the run date {run_date.isoformat()}: that would "
            f"archive current data. Use a date on or before {latest.isoformat()}, or leave cutoff_date "
            f"empty for the default ({default.isoformat()})."
        )
    if cutoff > latest:
        raise ValueError(
            f"cutoff_date {cutoff.isoformat()} is only {(run_date - cutoff).days} days before the run date "
            f"{run_date.isoformat()}; the archive moves data older than one year, so the cutoff must be "
            f"on or before {latest.isoformat()}. Leave cutoff_date empty for the default "
            f"({default.isoformat()})."
        )
    # The wall clock, on purpose (see archiving.wall_clock): a run dated in the future must not
    # make this year's sends "older than one year".
    today = archiving.clock_today() if today is None else today
    latest_today = today - timedelta(days=MIN_ARCHIVE_AGE_DAYS)
    if cutoff > latest_today:
        what = (
            f"cutoff_date {cutoff.isoformat()}"
            if given
            else f"The default cutoff {cutoff.isoformat()} (one year before the run date)"
        )
        how = "after" if cutoff >= today else f"only {(today - cutoff).days} days before"
        raise ValueError(
            f"{what} is {how} today ({today.isoformat()}), although the run date is {run_date.isoformat()}: "
            'the run is dated in the future, and the archive measures "older than one year" from the '
            f"earlier of the run date and today, so the cutoff must be on or before {latest_today.isoformat()}. "
            "Run with today's date or an earlier one, or pass a cutoff_date on or before "
            f"{latest_today.isoformat()}."
        )
    return cutoff


def cutoff_datetime(day: date) -> datetime:
    """Midnight UTC at the start of `day`: the half-open bound `created_at < cutoff_datetime(day)`."""
    return datetime.combine(day, dt_time.min, tzinfo=UTC)


def _count_sends_and_events(conn: psycopg.Connection, cutoff: datetime, *, archived: bool) -> tuple[int, int]:
    if archived and not all(
        archiving.archive_tables_exist(conn)[t] for t in ("email_sends_archive", "email_events_archive")
    ):
        return 0, 0
    sql_file = (
        "archive/count_archived_sends_and_events.sql"
        if archived
        else "archive/count_old_sends_and_events.sql"
    )
    row = db.fetch_one(conn, sql_file, {"cutoff": cutoff})
    return int(row["sends"]), int(row["events"])


def archive_sends_and_events(
    conn: psycopg.Connection,
    *,
    cutoff: datetime,
    batch_size: int = DEFAULT_SENDS_BATCH_SIZE,
    run_id: str,
    archived_at: datetime,
    dry_run: bool = False,
    limits: archiving.BatchLimits | None = None,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Archive old data (> 1 year)": move sends created before `cutoff`, and all their
    events, into the archive tables, batch by batch; returns counts before/after and reconciles them.

    `archived_at` is the run's instant; the cutoff must be at least 365 days before it and before
    today (the wall clock and the database's clock). dry_run (True or False only) counts what would
    move and changes nothing (not even the archive tables' creation). `limits` bound each batch
    (lock timeout and retries, statement and idle timeouts; see archiving.BatchLimits).
    """
    run = ARCHIVE.start(cutoff, batch_size, run_id, archived_at, dry_run, limits, log)
    with archiving.batch_autocommit(conn):
        run.check_database_clock(conn)
        if dry_run:
            sends, events = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends, arch_events = _count_sends_and_events(conn, cutoff, archived=True)
            log(
                f"dry run: would archive {sends:,} sends created before {cutoff.isoformat()} and their "
                f"{events:,} events, in about {-(-sends // batch_size):,} batches of {batch_size:,}; "
                "nothing changed"
            )
            return run.dry_run_result(sends=(sends, arch_sends), events=(events, arch_events))

        with run.locked(conn, ("email_sends", "email_events")) as session:
            archiving.refuse_double_copies(
                conn, "archive/select_sends_already_archived.sql", run.params, "email_sends"
            )
            sends_before, events_before = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_before, arch_events_before = _count_sends_and_events(conn, cutoff, archived=True)
            log(
                f"archiving {sends_before:,} sends created before {cutoff.isoformat()} and their "
                f"{events_before:,} events in batches of {batch_size:,} (run {run_id})"
            )

            def move(batch_no: int, ids: list[int]) -> tuple[dict, dict]:
                # Inside the batch, its sends locked: an event insert for one of them waits now.
                log(f"moving batch {batch_no}: {len(ids):,} sends (ids {ids[0]}..{ids[-1]}) and their events")
                batch = {**run.params, "send_ids": ids}
                events = db.fetch_one(conn, "archive/archive_email_events.sql", batch)
                archiving.check_batch(batch_no, "email_events", events, expected=None, archived=True)
                sends = db.fetch_one(conn, "archive/archive_email_sends.sql", batch)
                archiving.check_batch(batch_no, "email_sends", sends, expected=len(ids), archived=True)
                return sends, events

            moved_sends = moved_events = 0
            for batch_no, (sends, events) in run.batches(
                conn,
                session,
                "archive/select_old_sends_batch.sql",
                move,
                duplicate="a row is already in the archive",
                fix="Rows exist both live and archived: compare the copies, delete the wrong one, then rerun.",
            ):
                moved_sends += sends["deleted"]
                moved_events += events["deleted"]
                log(
                    f"batch {batch_no}: {sends['deleted']:,} sends, {events['deleted']:,} events, "
                    f"{moved_sends:,}/{sends_before:,} sends ({archiving.percent(moved_sends, sends_before)}%)"
                )

            sends_after, events_after = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_after, arch_events_after = _count_sends_and_events(conn, cutoff, archived=True)

    run.result["sends"], problems = archiving.reconcile(
        "email_sends", sends_before, sends_after, arch_sends_before, arch_sends_after, moved_sends
    )
    # A late webhook event (an open of a year-old email) may land on a send not yet moved; it is
    # then moved with its send. Such arrivals are reported; a shortfall is still a loss.
    run.result["events"], event_problems = archiving.reconcile(
        "email_events",
        events_before,
        events_after,
        arch_events_before,
        arch_events_after,
        moved_events,
        allow_arrivals=True,
    )
    result = run.finish(sends_after, problems + event_problems)
    log(
        f"archived {moved_sends:,} sends and {moved_events:,} events in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; reconciled (live {sends_before:,} -> {sends_after:,}, archived "
        f"{arch_sends_before:,} -> {arch_sends_after:,} sends)"
    )
    if sends_after:
        log(f"{sends_after:,} old sends were locked by other sessions and left live; rerun to archive them")
    return result
