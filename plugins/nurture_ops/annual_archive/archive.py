"""Runbook 7 "Annually": "Archive old data (> 1 year)".

`archive_sends_and_events` moves email_sends created before the cutoff, with every event of those
sends (nothing dangles), into email_sends_archive and email_events_archive in short batches, with
the guarantees of `nurture_ops.core.archiving` (whole batches, no silent duplicates, reconciled
totals, one run at a time). `parse_cutoff` turns the trigger param into a cutoff date and refuses
one less than 365 days before the run, before anything is written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import psycopg
from psycopg import errors

from nurture_ops.core import archiving, db

MIN_ARCHIVE_AGE_DAYS = 365


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


ARCHIVE_LOCK_KEY = archiving.lock_key("nurture_ops.archive_sends_and_events")


def _one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def parse_cutoff(params: dict | None, *, run_date: date) -> date:
    """The archive cutoff: params["cutoff_date"] (YYYY-MM-DD), or run_date minus one year.

    Raises ValueError for a malformed date, a cutoff after the run date, or one less than 365 days
    before it (archiving recent data is the case to refuse).
    """
    if isinstance(run_date, datetime):
        run_date = run_date.date()
    default = _one_year_before(run_date)
    raw = (params or {}).get("cutoff_date")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
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
    batch_size: int = 5000,
    run_id: str,
    archived_at: datetime,
    dry_run: bool = False,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Archive old data (> 1 year)": move sends created before `cutoff`, and all their
    events, into the archive tables, batch by batch; returns counts before/after and reconciles them.

    dry_run counts what would move and changes nothing (not even the archive tables' creation).
    """
    archiving.check_run_args(batch_size, run_id, archived_at)
    archiving.check_age("cutoff", cutoff, archived_at, MIN_ARCHIVE_AGE_DAYS)
    started = time.monotonic()
    params = {"cutoff": cutoff, "archived_at": archived_at, "run_id": run_id, "batch_size": batch_size}
    result: dict[str, Any] = {
        "cutoff": cutoff.isoformat(),
        "run_id": run_id,
        "archived_at": archived_at.isoformat(),
        "dry_run": dry_run,
        "batch_size": batch_size,
        "batches": 0,
    }
    with archiving.batch_autocommit(conn):
        if dry_run:
            sends, events = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends, arch_events = _count_sends_and_events(conn, cutoff, archived=True)
            for key, live, arch in (("sends", sends, arch_sends), ("events", events, arch_events)):
                result[key] = {
                    "live_before": live,
                    "live_after": live,
                    "archived_before": arch,
                    "archived_after": arch,
                    "moved": 0,
                    "would_move": live,
                }
            result.update(reconciled=None, left_locked=0, seconds=round(time.monotonic() - started, 3))
            log(
                f"dry run: would archive {sends:,} sends created before {cutoff.isoformat()} and their "
                f"{events:,} events, in about {-(-sends // batch_size):,} batches of {batch_size:,}; "
                "nothing changed"
            )
            return result

        archiving.ensure_archive_tables(conn, ("email_sends", "email_events"))
        with archiving.run_lock(conn, ARCHIVE_LOCK_KEY, "archive of old sends and events"):
            archiving.refuse_double_copies(
                conn, "archive/select_sends_already_archived.sql", params, "email_sends"
            )
            sends_before, events_before = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_before, arch_events_before = _count_sends_and_events(conn, cutoff, archived=True)
            log(
                f"archiving {sends_before:,} sends created before {cutoff.isoformat()} and their "
                f"{events_before:,} events in batches of {batch_size:,} (run {run_id})"
            )
            moved_sends = moved_events = batch_no = after_id = 0
            while True:
                batch_no += 1
                try:
                    with conn.transaction():
                        ids = [
                            r["id"]
                            for r in db.fetch_all(
                                conn, "archive/select_old_sends_batch.sql", {**params, "after_id": after_id}
                            )
                        ]
                        if not ids:
                            break
                        batch = {**params, "send_ids": ids}
                        events = db.fetch_one(conn, "archive/archive_email_events.sql", batch)
                        archiving.check_batch(batch_no, "email_events", events, expected=None, archived=True)
                        sends = db.fetch_one(conn, "archive/archive_email_sends.sql", batch)
                        archiving.check_batch(
                            batch_no, "email_sends", sends, expected=len(ids), archived=True
                        )
                except errors.UniqueViolation as exc:
                    raise archiving.ArchiveError(
                        f"batch {batch_no}: a row is already in the archive "
                        f"({exc.diag.message_detail or exc}); "
                        "the batch was rolled back. Rows exist both live and archived: compare the copies, "
                        "delete the wrong one, then rerun."
                    ) from exc
                after_id = ids[-1]
                moved_sends += sends["deleted"]
                moved_events += events["deleted"]
                result["batches"] = batch_no
                log(
                    f"batch {batch_no}: {sends['deleted']:,} sends, {events['deleted']:,} events, "
                    f"{moved_sends:,}/{sends_before:,} sends ({archiving.percent(moved_sends, sends_before)}%)"
                )

            sends_after, events_after = _count_sends_and_events(conn, cutoff, archived=False)
            arch_sends_after, arch_events_after = _count_sends_and_events(conn, cutoff, archived=True)

    result["sends"], problems = archiving.reconcile(
        "email_sends", sends_before, sends_after, arch_sends_before, arch_sends_after, moved_sends
    )
    # A late webhook event (an open of a year-old email) may land on a send not yet moved; it is
    # then moved with its send. Such arrivals are reported; a shortfall is still a loss.
    result["events"], event_problems = archiving.reconcile(
        "email_events",
        events_before,
        events_after,
        arch_events_before,
        arch_events_after,
        moved_events,
        allow_arrivals=True,
    )
    problems += event_problems
    result["left_locked"] = sends_after
    result["seconds"] = round(time.monotonic() - started, 3)
    if problems:
        raise archiving.ReconciliationError(
            "archive did not reconcile: " + "; ".join(problems) + f" ({result})"
        )
    result["reconciled"] = True
    log(
        f"archived {moved_sends:,} sends and {moved_events:,} events in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; reconciled (live {sends_before:,} -> {sends_after:,}, archived "
        f"{arch_sends_before:,} -> {arch_sends_after:,} sends)"
    )
    if sends_after:
        log(f"{sends_after:,} old sends were locked by other sessions and left live; rerun to archive them")
    return result
