"""Tasks of nurture_monthly_maintenance and nurture_annual_archive, and the texts of their reports.

Monthly (runbook 7 "Monthly", section 4 "Index Maintenance (Monthly)"):

    silence_alerts(keys)          setup: silences the alerts the maintenance's own load could trip
    reindex_tables(tables)        REINDEX TABLE CONCURRENTLY, one table at a time (maintenance.py)
    invalid_indexes()             INVALID *_ccnew / *_ccold leftovers: reported, dropped if configured
    analyze_tables(tables)        ANALYZE (runbook "Update statistics")
    cleanup_completed_enrollments()  completed > 90 days -> lead_campaign_enrollments_archive (archive.py)
    review_slow_workflows()       workflow errors per workflow, this month vs the month before
    lift_silences(ids)            teardown: ends the silences, whatever failed
    monthly_summary()             one [INFO] report

Annual (runbook 7 "Annually", "Archive old data (> 1 year)"):

    plan_archive() -> archive_old_data(plan) -> archive_report(result)

Every task takes the run's instant from its context (windows.run_time), never from the clock (the
cleanup's age guard excepted: it also checks the wall clock, see core.archiving.wall_clock), and
reads the Variable `nurture_ops_maintenance` when it runs (never at parse time). Nothing here
blocks the sending system: rebuilds are CONCURRENTLY, every connection has a lock_timeout, and
the archive moves rows in short batches.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task

from nurture_ops.alerting import state as alert_state
from nurture_ops.alerting.notify import post_report
from nurture_ops.core import db
from nurture_ops.core.archiving import ARCHIVE_STATEMENT_TIMEOUT_MS, BatchLimits, check_dry_run
from nurture_ops.core.catalog import get_check
from nurture_ops.core.errors import rejected_input
from nurture_ops.core.settings import load_maintenance_settings
from nurture_ops.core.windows import run_time
from nurture_ops.monthly_maintenance import cleanup, indexes
from nurture_ops.monthly_maintenance.report import monthly_report
from nurture_ops.monthly_maintenance.workflows import review_workflow_errors

log = logging.getLogger(__name__)


SILENCE_HOURS = 6


# A statement that timed out on a lock is tried this many times, waiting 5 s, 10 s, ... between.
ATTEMPTS = 3


RETRY_DELAY_S = 5.0


def _maintenance_connect(lock_timeout_ms: int):
    """What indexes.py opens its own autocommit connections from: `leads_db_maintenance` if defined, else
    `leads_db`."""
    return functools.partial(db.connect, purpose="maintain", autocommit=True, lock_timeout_ms=lock_timeout_ms)


def _publish_then_check(result: Any, problems: list[str], what: str) -> Any:
    """Return `result`; if some part failed, keep it as the task's XCom (the summary reports it)
    and fail the task, so the run shows the failure."""
    if not problems:
        return result
    get_current_context()["ti"].xcom_push(key="return_value", value=result)
    raise RuntimeError(f"{what}: {'; '.join(problems)}")


def silence_alerts(alert_keys: list[str], *, hours: int = SILENCE_HOURS):
    """The setup task; alert keys are checked against the catalog when the DAG is parsed."""
    for key in alert_keys:
        get_check(key)
    return _silence_alerts(list(alert_keys), hours)


@task(task_id="silence_alerts")
def _silence_alerts(alert_keys: list[str], hours: int) -> list[int]:
    """Silence the alerts this maintenance's own load could trip, from the run's time for
    `hours` hours, reason "monthly maintenance <run_id>"; returns the silence ids."""
    context = get_current_context()
    at = run_time(context)
    ends_at = at + timedelta(hours=hours)
    reason = f"monthly maintenance {context['run_id']}"
    with db.connect(purpose="write") as conn:
        alert_state.ensure_schema(conn)
        ids = [
            alert_state.add_silence(
                conn, key, starts_at=at, ends_at=ends_at, reason=reason, created_by=context["ti"].dag_id
            )
            for key in alert_keys
        ]
    log.info("Silenced %s from %s to %s (%s): ids %s", ", ".join(alert_keys), at, ends_at, reason, ids)
    context["ti"].xcom_push(
        key="silence",
        value={
            "alert_keys": alert_keys,
            "starts_at": at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
            # Wall clock used as a stopwatch only: how long the maintenance ran (see lift_silences).
            "set_at": datetime.now(UTC).isoformat(),
        },
    )
    return ids


def lift_instant(silence: dict, *, now: datetime) -> datetime:
    """When the silences end: their start plus how long the maintenance actually ran (a rerun
    of a past month silences that past span), never after the planned end."""
    starts_at = datetime.fromisoformat(silence["starts_at"])
    ends_at = datetime.fromisoformat(silence["ends_at"])
    elapsed = max(now - datetime.fromisoformat(silence["set_at"]), timedelta(0))
    return min(starts_at + elapsed, ends_at)


@task(task_id="lift_silences")
def lift_silences(silence_ids: list[int] | None) -> dict:
    """Teardown: end the silences silence_alerts created, even when a maintenance task failed."""
    context = get_current_context()
    silence = context["ti"].xcom_pull(task_ids="silence_alerts", key="silence") or {}
    ids = list(silence_ids or [])
    at = run_time(context)
    lifted_at = lift_instant(silence, now=datetime.now(UTC)) if silence else at
    with db.connect(purpose="write") as conn:
        for silence_id in ids:
            alert_state.end_silence(conn, silence_id, at=lifted_at)
    log.info("Lifted silences %s at %s", ids, lifted_at)
    return {
        "silence_ids": ids,
        "alert_keys": silence.get("alert_keys", []),
        "starts_at": silence.get("starts_at"),
        "lifted_at": lifted_at.isoformat(),
    }


# A transaction open this long (holding a snapshot or a lock on the table) defers the table's
# rebuild: it would make REINDEX CONCURRENTLY wait after its build and throw the work away.
LONG_TRANSACTION_S = indexes.DEFAULT_LONG_TRANSACTION_S


def _compact_reindex(result: dict) -> dict:
    keep = (
        "table",
        "status",
        "attempts",
        "seconds",
        "indexes",
        "size_before_bytes",
        "size_after_bytes",
        "leftovers_dropped",
        "invalid_indexes",
        "reason",
        "fix",
        "owner",
        "warnings",
        "error",
    )
    return {k: result.get(k) for k in keep} | {
        "notices": result.get("notices", [])[:3],
        "blockers": result.get("blockers", [])[: indexes.BLOCKERS_NAMED],
    }


def _not_done(result: dict) -> str:
    """A table the task did not do, for its failure message: failed, deferred or skipped."""
    if result["status"] in ("deferred", "skipped"):
        return f"{result['table']}: {result['status']}: {result['reason']}"
    return f"{result['table']}: {result['error']}"


@task(task_id="reindex_tables")
def reindex_tables(tables: list[str]) -> list[dict]:
    """Runbook "Rebuild indexes", online: REINDEX TABLE CONCURRENTLY each table in turn
    (autocommit, lock_timeout, retried on lock timeouts; deferred behind a long transaction,
    skipped when the role does not own the table); fails after all tables if one was not rebuilt."""
    lock_timeout_ms = load_maintenance_settings("lock_timeout_ms").lock_timeout_ms
    results = indexes.reindex_tables(
        _maintenance_connect(lock_timeout_ms),
        tables,
        lock_timeout_ms=lock_timeout_ms,
        log=log.info,
        attempts=ATTEMPTS,
        retry_delay_s=RETRY_DELAY_S,
        long_transaction_s=LONG_TRANSACTION_S,
    )
    compact = [_compact_reindex(r) for r in results]
    problems = [_not_done(r) for r in compact if r["status"] != "reindexed"]
    return _publish_then_check(compact, problems, "reindex failed")


@task(task_id="invalid_indexes")
def invalid_indexes(tables: list[str] | None = None) -> dict:
    """INVALID indexes after the rebuild: `_ccnew`/`_ccold` leftovers of a failed concurrent
    rebuild are dropped (DROP INDEX CONCURRENTLY) only if the Variable says
    {"drop_invalid_indexes": true}; every invalid index is reported, and the leftovers on the
    TOAST tables (pg_toast) of `tables` (default: the maintained tables) too."""
    tables = list(tables or indexes.DEFAULT_TABLES)
    settings = load_maintenance_settings("drop_invalid_indexes", "lock_timeout_ms")
    drop, lock_timeout_ms = settings.drop_invalid_indexes, settings.lock_timeout_ms
    with db.connect(purpose="read") as conn:
        found = indexes.find_invalid_indexes(conn, tables)
    leftovers = [i for i in found if (i["is_ccnew"] or i["is_ccold"]) and not i["build_in_progress"]]
    dropped: list[dict] = []
    if drop and leftovers:
        dropped = indexes.drop_invalid_indexes(
            _maintenance_connect(lock_timeout_ms),
            [i["qualified_name"] for i in leftovers],
            log.info,
            lock_timeout_ms=lock_timeout_ms,
            attempts=ATTEMPTS,
            retry_delay_s=RETRY_DELAY_S,
        )
    with db.connect(purpose="read") as conn:
        remaining = {i["qualified_name"] for i in indexes.find_invalid_indexes(conn, tables)}
    status = {d["index"]: d for d in dropped}
    report = []
    for index in found:
        name = index["qualified_name"]
        outcome = status.get(name, {})
        report.append(
            {
                "index": name,
                "table": index["table_name"],
                "toast": index["is_toast"],
                "size_bytes": index["size_bytes"],
                "leftover": index in leftovers,
                "build_in_progress": index["build_in_progress"],
                "status": outcome.get("status") or ("gone" if name not in remaining else "kept"),
                "error": outcome.get("error"),
            }
        )
        log.warning("INVALID index %s on %s: %s", name, index["table_name"], report[-1]["status"])
    result = {"drop_enabled": drop, "indexes": report, "remaining": sorted(remaining)}
    problems = [f"{d['index']}: {d['error']}" for d in dropped if d["status"] == "failed"]
    return _publish_then_check(result, problems, "dropping invalid indexes failed")


@task(task_id="analyze_tables")
def analyze_tables(tables: list[str]) -> list[dict]:
    """Runbook "Update statistics": ANALYZE each table after the rebuild; fails after all
    tables if one was not analyzed (failed, or skipped: not the owner)."""
    lock_timeout_ms = load_maintenance_settings("lock_timeout_ms").lock_timeout_ms
    results = indexes.analyze_tables(
        _maintenance_connect(lock_timeout_ms),
        tables,
        log.info,
        lock_timeout_ms=lock_timeout_ms,
        attempts=ATTEMPTS,
        retry_delay_s=RETRY_DELAY_S,
    )
    problems = [_not_done(r) for r in results if r["status"] != "analyzed"]
    return _publish_then_check(results, problems, "analyze failed")


@task(task_id="cleanup_completed_enrollments")
def cleanup_completed_enrollments() -> dict:
    """Runbook "Clean up completed enrollments > 90 days": completed_at more than 90 days before
    the run, moved in batches to lead_campaign_enrollments_archive (or deleted, Variable
    cleanup_mode "delete"), each batch one transaction; reconciled; progress in the log.
    The param dry_run (true or false only, default false) counts what would move and changes
    nothing. A run dated in the future is refused (not retried): "90 days before the run" is
    measured from the earlier of the run's date and today."""
    context = get_current_context()
    settings = load_maintenance_settings("cleanup_mode", "cleanup_batch_size", "lock_timeout_ms")
    at = run_time(context)
    with rejected_input():
        dry_run = check_dry_run(context["params"].get("dry_run", False))
        older_than = cleanup.completed_enrollments_cutoff(at)
    with db.connect(
        purpose="maintain",
        autocommit=True,
        statement_timeout_ms=ARCHIVE_STATEMENT_TIMEOUT_MS,
        lock_timeout_ms=settings.lock_timeout_ms,
    ) as conn:
        return cleanup.cleanup_completed_enrollments(
            conn,
            older_than=older_than,
            batch_size=settings.cleanup_batch_size,
            run_id=context["run_id"],
            archived_at=at,
            mode=settings.cleanup_mode,
            dry_run=dry_run,
            limits=BatchLimits(lock_timeout_ms=settings.lock_timeout_ms),
            log=log.info,
        )


@task(task_id="review_slow_workflows")
def review_slow_workflows() -> dict:
    """Runbook "Review and optimize slow workflows": error counts and trends per workflow over the
    month ending at the run's time, with the executions' mean and max duration."""
    at = run_time(get_current_context())
    with db.connect(purpose="read") as conn:
        return review_workflow_errors(conn, at=at)


MONTHLY_PARTS = (
    "reindex_tables",
    "invalid_indexes",
    "analyze_tables",
    "cleanup_completed_enrollments",
    "review_slow_workflows",
    "lift_silences",
)


@task(task_id="monthly_summary", trigger_rule=TriggerRule.ALL_DONE)
def monthly_summary() -> str:
    """One [INFO] "Monthly maintenance" report, whatever failed upstream."""
    context = get_current_context()
    ti = context["ti"]
    parts = {part: ti.xcom_pull(task_ids=part) for part in MONTHLY_PARTS}
    sections, summary = monthly_report(parts, at=run_time(context))
    return post_report("Monthly maintenance", sections, summary=summary)
