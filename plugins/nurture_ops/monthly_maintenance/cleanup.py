"""Runbook 7 "Monthly": "Clean up completed enrollments > 90 days".

Completed enrollments are moved (or deleted) in short batches into
lead_campaign_enrollments_archive, with the same guarantees as the annual archive (see
nurture_ops.core.archiving): whole batches, reconciled totals, one run at a time, each batch
bounded by lock, statement and idle timeouts (an enrollment the scheduler holds is skipped and
left for the next run, never waited for).

"More than 90 days" is measured from the earlier of the run's date and today (the wall clock and
the database's clock): a run dated in the future is refused, so cleanup_mode "delete" can never
remove enrollments completed recently, copy or no copy. `dry_run=True` counts what would be
archived or deleted and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from nurture_ops.core import archiving, db
from nurture_ops.core.settings import CLEANUP_MODES

MIN_CLEANUP_AGE_DAYS = 90


CLEANUP_LOCK_KEY = archiving.lock_key("nurture_ops.cleanup_completed_enrollments")


CLEANUP = archiving.MoveSpec(
    "older_than", MIN_CLEANUP_AGE_DAYS, "cleanup of completed enrollments", "cleanup", CLEANUP_LOCK_KEY
)


def completed_enrollments_cutoff(run_time: datetime) -> datetime:
    """The monthly cleanup's bound: enrollments completed more than 90 days before the run.

    Raises ValueError when the run is dated in the future, so that the bound would be less than
    90 days before today by the wall clock (see archiving.check_age)."""
    archiving.require_aware("run_time", run_time)
    older_than = run_time - timedelta(days=MIN_CLEANUP_AGE_DAYS)
    archiving.check_age("older_than", older_than, run_time, MIN_CLEANUP_AGE_DAYS)
    return older_than


def _count_enrollments(conn: psycopg.Connection, older_than: datetime, *, archived: bool) -> int:
    if archived and not archiving.archive_tables_exist(conn)["lead_campaign_enrollments_archive"]:
        return 0
    sql_file = (
        "archive/count_archived_enrollments.sql" if archived else "archive/count_completed_enrollments.sql"
    )
    return int(db.fetch_one(conn, sql_file, {"older_than": older_than})["enrollments"])


def cleanup_completed_enrollments(
    conn: psycopg.Connection,
    *,
    older_than: datetime,
    batch_size: int = archiving.DEFAULT_BATCH_SIZE,
    run_id: str,
    archived_at: datetime,
    mode: str = "archive",
    dry_run: bool = False,
    limits: archiving.BatchLimits | None = None,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Clean up completed enrollments > 90 days": enrollments with status 'completed'
    and completed_at < older_than are moved to lead_campaign_enrollments_archive (mode "archive")
    or deleted (mode "delete"), batch by batch, reconciled (live + archived = before).

    `archived_at` is the run's instant; older_than must be at least 90 days before it and before
    today (the wall clock and the database's clock). dry_run (True or False only) counts what would
    be archived or deleted and changes nothing. `limits` bound each batch (archiving.BatchLimits).
    """
    if mode not in CLEANUP_MODES:
        raise ValueError(f"mode must be one of {', '.join(CLEANUP_MODES)}, got {mode!r}.")
    to_archive = mode == "archive"
    verb = "archive" if to_archive else "delete"
    run = CLEANUP.start(older_than, batch_size, run_id, archived_at, dry_run, limits, log, mode=mode)
    with archiving.batch_autocommit(conn):
        run.check_database_clock(conn)
        if dry_run:
            live = _count_enrollments(conn, older_than, archived=False)
            arch = _count_enrollments(conn, older_than, archived=True)
            log(
                f"dry run: would {verb} {live:,} enrollments completed before {older_than.isoformat()}; "
                "nothing changed"
            )
            return run.dry_run_result(enrollments=(live, arch))

        tables = ("lead_campaign_enrollments",) if to_archive else ()
        with run.locked(conn, tables) as session:
            if to_archive:
                archiving.refuse_double_copies(
                    conn,
                    "archive/select_enrollments_already_archived.sql",
                    run.params,
                    "lead_campaign_enrollments",
                )
            live_before = _count_enrollments(conn, older_than, archived=False)
            arch_before = _count_enrollments(conn, older_than, archived=True)
            log(
                f"cleanup ({mode}): {live_before:,} enrollments completed before {older_than.isoformat()} "
                f"to {verb} in batches of {batch_size:,} (run {run_id})"
            )
            sql_file = (
                "archive/archive_completed_enrollments.sql"
                if to_archive
                else "archive/delete_completed_enrollments.sql"
            )

            def move(batch_no: int, ids: list[int]) -> dict:
                counts = db.fetch_one(conn, sql_file, {**run.params, "enrollment_ids": ids})
                archiving.check_batch(
                    batch_no, "lead_campaign_enrollments", counts, expected=len(ids), archived=to_archive
                )
                return counts

            moved = 0
            for batch_no, counts in run.batches(
                conn,
                session,
                "archive/select_completed_enrollments_batch.sql",
                move,
                duplicate="an enrollment is already archived",
                fix="Compare the live and archived copies, delete the wrong one, then rerun.",
            ):
                moved += counts["deleted"]
                log(
                    f"batch {batch_no}: {counts['deleted']:,} enrollments {verb}d, "
                    f"{moved:,}/{live_before:,} enrollments ({archiving.percent(moved, live_before)}%)"
                )
            live_after = _count_enrollments(conn, older_than, archived=False)
            arch_after = _count_enrollments(conn, older_than, archived=True)

    run.result["enrollments"], problems = archiving.reconcile(
        "lead_campaign_enrollments",
        live_before,
        live_after,
        arch_before,
        arch_after,
        moved,
        archived=to_archive,
    )
    result = run.finish(live_after, problems)
    log(
        f"{verb}d {moved:,} completed enrollments in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; "
        f"reconciled (live {live_before:,} -> {live_after:,}, archived {arch_before:,} -> {arch_after:,})"
    )
    if live_after:
        log(f"{live_after:,} enrollments were locked by other sessions and left live; rerun to finish")
    return result
