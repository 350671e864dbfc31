"""Runbook 7 "Monthly": "Clean up completed enrollments > 90 days".

Completed enrollments are moved (or deleted) in short batches into
lead_campaign_enrollments_archive, with the same guarantees as the annual archive (see
nurture_ops.core.archiving): whole batches, reconciled totals, one run at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors

from nurture_ops.core import archiving, db
from nurture_ops.core.settings import CLEANUP_MODES

MIN_CLEANUP_AGE_DAYS = 90


CLEANUP_LOCK_KEY = archiving.lock_key("nurture_ops.cleanup_completed_enrollments")


def completed_enrollments_cutoff(run_time: datetime) -> datetime:
    """The monthly cleanup's bound: enrollments completed more than 90 days before the run."""
    archiving.require_aware("run_time", run_time)
    return run_time - timedelta(days=MIN_CLEANUP_AGE_DAYS)


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
    batch_size: int = 5000,
    run_id: str,
    archived_at: datetime,
    mode: str = "archive",
    dry_run: bool = False,
    log: Callable[[str], Any] = print,
) -> dict:
    """Runbook "Clean up completed enrollments > 90 days": enrollments with status 'completed'
    and completed_at < older_than are moved to lead_campaign_enrollments_archive (mode "archive")
    or deleted (mode "delete"), batch by batch, reconciled (live + archived = before)."""
    if mode not in CLEANUP_MODES:
        raise ValueError(f"mode must be one of {', '.join(CLEANUP_MODES)}, got {mode!r}.")
    archiving.check_run_args(batch_size, run_id, archived_at)
    archiving.check_age("older_than", older_than, archived_at, MIN_CLEANUP_AGE_DAYS)
    to_archive = mode == "archive"
    verb = "archive" if to_archive else "delete"
    started = time.monotonic()
    params = {
        "older_than": older_than,
        "archived_at": archived_at,
        "run_id": run_id,
        "batch_size": batch_size,
    }
    result: dict[str, Any] = {
        "older_than": older_than.isoformat(),
        "mode": mode,
        "run_id": run_id,
        "archived_at": archived_at.isoformat(),
        "dry_run": dry_run,
        "batch_size": batch_size,
        "batches": 0,
    }
    with archiving.batch_autocommit(conn):
        if dry_run:
            live = _count_enrollments(conn, older_than, archived=False)
            arch = _count_enrollments(conn, older_than, archived=True)
            result["enrollments"] = {
                "live_before": live,
                "live_after": live,
                "archived_before": arch,
                "archived_after": arch,
                "moved": 0,
                "would_move": live,
            }
            result.update(reconciled=None, left_locked=0, seconds=round(time.monotonic() - started, 3))
            log(
                f"dry run: would {verb} {live:,} enrollments completed before {older_than.isoformat()}; "
                "nothing changed"
            )
            return result

        if to_archive:
            archiving.ensure_archive_tables(conn, ("lead_campaign_enrollments",))
        with archiving.run_lock(conn, CLEANUP_LOCK_KEY, "cleanup of completed enrollments"):
            if to_archive:
                archiving.refuse_double_copies(
                    conn,
                    "archive/select_enrollments_already_archived.sql",
                    params,
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
            moved = batch_no = after_id = 0
            while True:
                batch_no += 1
                try:
                    with conn.transaction():
                        ids = [
                            r["id"]
                            for r in db.fetch_all(
                                conn,
                                "archive/select_completed_enrollments_batch.sql",
                                {**params, "after_id": after_id},
                            )
                        ]
                        if not ids:
                            break
                        counts = db.fetch_one(conn, sql_file, {**params, "enrollment_ids": ids})
                        archiving.check_batch(
                            batch_no,
                            "lead_campaign_enrollments",
                            counts,
                            expected=len(ids),
                            archived=to_archive,
                        )
                except errors.UniqueViolation as exc:
                    raise archiving.ArchiveError(
                        f"batch {batch_no}: an enrollment is already archived "
                        f"({exc.diag.message_detail or exc}); the batch was rolled back. Compare the live "
                        "and archived copies, delete the wrong one, then rerun."
                    ) from exc
                after_id = ids[-1]
                moved += counts["deleted"]
                result["batches"] = batch_no
                log(
                    f"batch {batch_no}: {counts['deleted']:,} enrollments {verb}d, "
                    f"{moved:,}/{live_before:,} enrollments ({archiving.percent(moved, live_before)}%)"
                )
            live_after = _count_enrollments(conn, older_than, archived=False)
            arch_after = _count_enrollments(conn, older_than, archived=True)

    result["enrollments"], problems = archiving.reconcile(
        "lead_campaign_enrollments",
        live_before,
        live_after,
        arch_before,
        arch_after,
        moved,
        archived=to_archive,
    )
    result["left_locked"] = live_after
    result["seconds"] = round(time.monotonic() - started, 3)
    if problems:
        raise archiving.ReconciliationError(
            "cleanup did not reconcile: " + "; ".join(problems) + f" ({result})"
        )
    result["reconciled"] = True
    log(
        f"{verb}d {moved:,} completed enrollments in {result['batches']:,} batches, "
        f"{result['seconds']:.1f}s; "
        f"reconciled (live {live_before:,} -> {live_after:,}, archived {arch_before:,} -> {arch_after:,})"
    )
    if live_after:
        log(f"{live_after:,} enrollments were locked by other sessions and left live; rerun to finish")
    return result
