"""Tasks of nurture_annual_archive: plan (validates the params before any write) -> archive -> report."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import get_current_context, task

from nurture_ops.alerting.notify import post_report
from nurture_ops.annual_archive.archive import (
    DEFAULT_SENDS_BATCH_SIZE,
    archive_sends_and_events,
    cutoff_datetime,
    parse_cutoff,
)
from nurture_ops.annual_archive.report import annual_report
from nurture_ops.core import db
from nurture_ops.core.archiving import (
    ARCHIVE_STATEMENT_TIMEOUT_MS,
    LOCK_TIMEOUT_MS,
    BatchLimits,
    check_dry_run,
)
from nurture_ops.core.errors import rejected_input
from nurture_ops.core.windows import run_time

log = logging.getLogger(__name__)


def _batch_size_param(value: Any) -> int:
    if value is None:
        return DEFAULT_SENDS_BATCH_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 50_000:
        raise ValueError(f"batch_size must be a whole number from 100 to 50000, got {value!r}.")
    return value


@task(task_id="plan_archive")
def plan_archive() -> dict:
    """The cutoff (params.cutoff_date, else one year before the run's date), dry_run and
    batch_size. A bad cutoff fails here, before anything is written, and so does a run dated in
    the future (the cutoff is also checked against today, by the wall clock), and a dry_run that
    is not exactly true or false (params are not always checked against the DAG's schema)."""
    context = get_current_context()
    params = dict(context["params"])
    at = run_time(context)
    with rejected_input():
        cutoff = parse_cutoff(params, run_date=at.date())
        dry_run = check_dry_run(params.get("dry_run", False))
        plan = {
            "cutoff": cutoff.isoformat(),
            "cutoff_at": cutoff_datetime(cutoff).isoformat(),
            "batch_size": _batch_size_param(params.get("batch_size")),
            "dry_run": dry_run,
            "run_date": at.date().isoformat(),
        }
    log.info(
        "%s sends created before %s and their events, in batches of %s",
        "Dry run: counting" if dry_run else "Archiving",
        plan["cutoff_at"],
        plan["batch_size"],
    )
    return plan


@task(task_id="archive")
def archive_old_data(plan: dict) -> dict:
    """Runbook "Archive old data (> 1 year)": sends before the cutoff and all their events into
    email_sends_archive / email_events_archive, batch by batch, reconciled; progress in the log.
    In a dry run, counts what would move and changes nothing. Each batch waits at most
    LOCK_TIMEOUT_MS for a lock (then it is rolled back and retried, 3 attempts)."""
    context = get_current_context()
    at = run_time(context)
    with db.connect(
        purpose="maintain",
        autocommit=True,
        statement_timeout_ms=ARCHIVE_STATEMENT_TIMEOUT_MS,
        lock_timeout_ms=LOCK_TIMEOUT_MS,
    ) as conn:
        return archive_sends_and_events(
            conn,
            cutoff=datetime.fromisoformat(plan["cutoff_at"]),
            batch_size=plan["batch_size"],
            run_id=context["run_id"],
            archived_at=at,
            dry_run=plan["dry_run"],
            limits=BatchLimits(lock_timeout_ms=LOCK_TIMEOUT_MS),
            log=log.info,
        )


@task(task_id="archive_report")
def archive_report(result: dict) -> str:
    """One [INFO] "Annual archive" report with the final counts and the reconciliation."""
    sections, summary = annual_report(result)
    title = "Annual archive · DRY RUN" if result.get("dry_run") else "Annual archive"
    return post_report(title, sections, summary=summary)
