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

Every task takes the run's instant from its context (windows.run_time), never from the clock, and
reads the Variable `nurture_ops_maintenance` when it runs (never at parse time). Nothing here
blocks the sending system: rebuilds are CONCURRENTLY, every connection has a lock_timeout, and
the archive moves rows in short batches.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import TriggerRule, Variable, get_current_context, task

from nurture_ops import alert_state, archive, db, maintenance
from nurture_ops.catalog import get_check
from nurture_ops.errors import rejected_input
from nurture_ops.reports import FAILED, INFO, OK, WARN, escape, fit, minute, months_before, num, plural
from nurture_ops.review import plain
from nurture_ops.tasks import post_report
from nurture_ops.windows import run_time

log = logging.getLogger(__name__)

MAINTENANCE_VARIABLE = "nurture_ops_maintenance"
SILENCE_HOURS = 6
LOCK_TIMEOUT_MS = 5_000
# "A long statement timeout": one archive batch, or a count over a year of sends.
ARCHIVE_STATEMENT_TIMEOUT_MS = 3_600_000
DEFAULT_BATCH_SIZE = 5_000
# A statement that timed out on a lock is tried this many times, waiting 5 s, 10 s, ... between.
ATTEMPTS = 3
RETRY_DELAY_S = 5.0
TOP_WORKFLOWS = 10

# The keys of the Variable, their defaults, and what a valid value looks like.
SETTINGS_DEFAULTS: dict[str, Any] = {
    "drop_invalid_indexes": False,
    "cleanup_mode": "archive",
    "cleanup_batch_size": DEFAULT_BATCH_SIZE,
    "lock_timeout_ms": LOCK_TIMEOUT_MS,
}
SETTINGS_EXAMPLE = '{"drop_invalid_indexes": true, "cleanup_mode": "archive"}'

MONTHLY_CHECKLIST_BY_HAND = (
    "Review and update documentation (the runbook, and these DAGs' docs in the Airflow UI)",
    "Rotate API keys (if security policy requires): SendGrid, N8n API key, database credentials",
)
ANNUAL_CHECKLIST_BY_HAND = (
    "Comprehensive security audit",
    "Review and renew SendGrid plan",
    "Team training on system operations",
)


# ---------------------------------------------------------------------------------------------
# The Variable nurture_ops_maintenance (JSON), read at run time


def _variable_settings() -> dict[str, Any]:
    raw = Variable.get(MAINTENANCE_VARIABLE, default=None)
    return parse_settings(raw)


def parse_settings(raw: str | None) -> dict[str, Any]:
    """The Variable's JSON object ({} when unset); unknown keys are logged, not fatal. A value is
    validated by `setting()` in the task that uses it, so a bad value fails that task only."""
    if raw is None or not str(raw).strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Variable {MAINTENANCE_VARIABLE} is not valid JSON ({exc}); expected an object such as "
            f"{SETTINGS_EXAMPLE}."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"Variable {MAINTENANCE_VARIABLE} must be a JSON object such as {SETTINGS_EXAMPLE}, "
            f"got {type(value).__name__}: {raw!r}."
        )
    unknown = sorted(set(value) - set(SETTINGS_DEFAULTS))
    if unknown:
        log.warning(
            "Variable %s: unknown key(s) %s ignored; known keys: %s",
            MAINTENANCE_VARIABLE,
            ", ".join(unknown),
            ", ".join(SETTINGS_DEFAULTS),
        )
    return value


def setting(values: dict[str, Any], key: str) -> Any:
    """One validated setting, or its default when absent (or null)."""
    value = values.get(key)
    if value is None:
        return SETTINGS_DEFAULTS[key]
    where = f"Variable {MAINTENANCE_VARIABLE}: {key}"
    whole = isinstance(value, int) and not isinstance(value, bool)
    if key == "drop_invalid_indexes" and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}.")
    if key == "cleanup_mode" and value not in archive.CLEANUP_MODES:
        raise ValueError(
            f"{where} must be one of {', '.join(map(repr, archive.CLEANUP_MODES))} "
            f"(archive: move to lead_campaign_enrollments_archive; delete: remove), got {value!r}."
        )
    if key == "cleanup_batch_size" and not (whole and 1 <= value <= archive.MAX_BATCH_SIZE):
        raise ValueError(
            f"{where} must be a whole number from 1 to {archive.MAX_BATCH_SIZE:,}, got {value!r}."
        )
    if key == "lock_timeout_ms" and not (whole and 100 <= value <= 600_000):
        raise ValueError(f"{where} must be a whole number of milliseconds from 100 to 600000, got {value!r}.")
    return value


def _maintenance_connect(lock_timeout_ms: int):
    """What maintenance.py opens its own autocommit connections from: the `leads_db` connection."""
    return functools.partial(db.connect, autocommit=True, lock_timeout_ms=lock_timeout_ms)


def _publish_then_check(result: Any, problems: list[str], what: str) -> Any:
    """Return `result`; if some part failed, keep it as the task's XCom (the summary reports it)
    and fail the task, so the run shows the failure."""
    if not problems:
        return result
    get_current_context()["ti"].xcom_push(key="return_value", value=result)
    raise RuntimeError(f"{what}: {'; '.join(problems)}")


# ---------------------------------------------------------------------------------------------
# Monthly: silences around the maintenance


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
    with db.connect() as conn:
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
    with db.connect() as conn:
        for silence_id in ids:
            alert_state.end_silence(conn, silence_id, at=lifted_at)
    log.info("Lifted silences %s at %s", ids, lifted_at)
    return {
        "silence_ids": ids,
        "alert_keys": silence.get("alert_keys", []),
        "starts_at": silence.get("starts_at"),
        "lifted_at": lifted_at.isoformat(),
    }


# ---------------------------------------------------------------------------------------------
# Monthly: index maintenance (runbook 4)


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
        "error",
    )
    return {k: result.get(k) for k in keep} | {"notices": result.get("notices", [])[:3]}


@task(task_id="reindex_tables")
def reindex_tables(tables: list[str]) -> list[dict]:
    """Runbook "Rebuild indexes", online: REINDEX TABLE CONCURRENTLY each table in turn
    (autocommit, lock_timeout, retried on lock timeouts); fails after all tables if one failed."""
    lock_timeout_ms = setting(_variable_settings(), "lock_timeout_ms")
    results = maintenance.reindex_tables(
        _maintenance_connect(lock_timeout_ms),
        tables,
        lock_timeout_ms=lock_timeout_ms,
        log=log.info,
        attempts=ATTEMPTS,
        retry_delay_s=RETRY_DELAY_S,
    )
    compact = [_compact_reindex(r) for r in results]
    problems = [f"{r['table']}: {r['error']}" for r in compact if r["status"] != "reindexed"]
    return _publish_then_check(compact, problems, "reindex failed")


@task(task_id="invalid_indexes")
def invalid_indexes() -> dict:
    """INVALID indexes after the rebuild: `_ccnew`/`_ccold` leftovers of a failed concurrent
    rebuild are dropped (DROP INDEX CONCURRENTLY) only if the Variable says
    {"drop_invalid_indexes": true}; every invalid index is reported."""
    values = _variable_settings()
    drop = setting(values, "drop_invalid_indexes")
    lock_timeout_ms = setting(values, "lock_timeout_ms")
    with db.connect() as conn:
        found = maintenance.find_invalid_indexes(conn)
    leftovers = [i for i in found if (i["is_ccnew"] or i["is_ccold"]) and not i["build_in_progress"]]
    dropped: list[dict] = []
    if drop and leftovers:
        dropped = maintenance.drop_invalid_indexes(
            _maintenance_connect(lock_timeout_ms),
            [i["qualified_name"] for i in leftovers],
            log.info,
            lock_timeout_ms=lock_timeout_ms,
            attempts=ATTEMPTS,
            retry_delay_s=RETRY_DELAY_S,
        )
    with db.connect() as conn:
        remaining = {i["qualified_name"] for i in maintenance.find_invalid_indexes(conn)}
    status = {d["index"]: d for d in dropped}
    report = []
    for index in found:
        name = index["qualified_name"]
        outcome = status.get(name, {})
        report.append(
            {
                "index": name,
                "table": index["table_name"],
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
    """Runbook "Update statistics": ANALYZE each table after the rebuild."""
    lock_timeout_ms = setting(_variable_settings(), "lock_timeout_ms")
    results = maintenance.analyze_tables(
        _maintenance_connect(lock_timeout_ms),
        tables,
        log.info,
        lock_timeout_ms=lock_timeout_ms,
        attempts=ATTEMPTS,
        retry_delay_s=RETRY_DELAY_S,
    )
    problems = [f"{r['table']}: {r['error']}" for r in results if r["status"] != "analyzed"]
    return _publish_then_check(results, problems, "analyze failed")


# ---------------------------------------------------------------------------------------------
# Monthly: cleanup and workflow review (runbook 7)


@task(task_id="cleanup_completed_enrollments")
def cleanup_completed_enrollments() -> dict:
    """Runbook "Clean up completed enrollments > 90 days": completed_at more than 90 days before
    the run, moved in batches to lead_campaign_enrollments_archive (or deleted, Variable
    cleanup_mode "delete"), each batch one transaction; reconciled; progress in the log."""
    context = get_current_context()
    values = _variable_settings()
    mode = setting(values, "cleanup_mode")
    batch_size = setting(values, "cleanup_batch_size")
    lock_timeout_ms = setting(values, "lock_timeout_ms")
    at = run_time(context)
    with db.connect(
        autocommit=True, statement_timeout_ms=ARCHIVE_STATEMENT_TIMEOUT_MS, lock_timeout_ms=lock_timeout_ms
    ) as conn:
        return archive.cleanup_completed_enrollments(
            conn,
            older_than=archive.completed_enrollments_cutoff(at),
            batch_size=batch_size,
            run_id=context["run_id"],
            archived_at=at,
            mode=mode,
            log=log.info,
        )


def review_workflow_errors(conn, *, at: datetime, limit: int = TOP_WORKFLOWS) -> dict:
    """Runbook "Review and optimize slow workflows": per workflow, errors in the month ending at
    `at` vs the month before (trend), and the month's executions (count, mean/max duration_ms)."""
    month_start, previous_start = months_before(at, 1), months_before(at, 2)
    rows = [
        plain(r)
        for r in db.fetch_all(
            conn,
            "maintenance/review_workflow_errors.sql",
            {"previous_start": previous_start, "month_start": month_start, "month_end": at},
        )
    ]
    errors = sum(r["error_count"] for r in rows)
    previous = sum(r["previous_error_count"] for r in rows)
    return {
        "month_start": month_start.isoformat(),
        "month_end": at.isoformat(),
        "previous_start": previous_start.isoformat(),
        "error_count": errors,
        "previous_error_count": previous,
        "trend": _trend(errors, previous),
        "rising": [r["workflow_name"] for r in rows if r["trend"] in ("up", "new")],
        "workflow_count": len(rows),
        "workflows": rows[:limit],
    }


def _trend(now: int, before: int) -> str:
    if now and not before:
        return "new"
    if now > before:
        return "up"
    if now < before:
        return "down"
    return "same" if now else "none"


@task(task_id="review_slow_workflows")
def review_slow_workflows() -> dict:
    """Runbook "Review and optimize slow workflows": error counts and trends per workflow over the
    month ending at the run's time, with the executions' mean and max duration."""
    at = run_time(get_current_context())
    with db.connect() as conn:
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


# ---------------------------------------------------------------------------------------------
# Annual archive


def _batch_size_param(value: Any) -> int:
    if value is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 50_000:
        raise ValueError(f"batch_size must be a whole number from 100 to 50000, got {value!r}.")
    return value


@task(task_id="plan_archive")
def plan_archive() -> dict:
    """The cutoff (params.cutoff_date, else one year before the run's date), dry_run and
    batch_size. A bad cutoff fails here, before anything is written."""
    context = get_current_context()
    params = dict(context["params"])
    at = run_time(context)
    with rejected_input():
        cutoff = archive.parse_cutoff(params, run_date=at.date())
        dry_run = params.get("dry_run") or False
        if not isinstance(dry_run, bool):
            raise ValueError(f"dry_run must be true or false, got {dry_run!r}.")
        plan = {
            "cutoff": cutoff.isoformat(),
            "cutoff_at": archive.cutoff_datetime(cutoff).isoformat(),
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
    In a dry run, counts what would move and changes nothing."""
    context = get_current_context()
    at = run_time(context)
    with db.connect(
        autocommit=True, statement_timeout_ms=ARCHIVE_STATEMENT_TIMEOUT_MS, lock_timeout_ms=LOCK_TIMEOUT_MS
    ) as conn:
        return archive.archive_sends_and_events(
            conn,
            cutoff=datetime.fromisoformat(plan["cutoff_at"]),
            batch_size=plan["batch_size"],
            run_id=context["run_id"],
            archived_at=at,
            dry_run=plan["dry_run"],
            log=log.info,
        )


@task(task_id="archive_report")
def archive_report(result: dict) -> str:
    """One [INFO] "Annual archive" report with the final counts and the reconciliation."""
    sections, summary = annual_report(result)
    title = "Annual archive · DRY RUN" if result.get("dry_run") else "Annual archive"
    return post_report(title, sections, summary=summary)


# ---------------------------------------------------------------------------------------------
# Report texts (pure: XCom dicts in, Slack mrkdwn sections out)


def size(value: int | None) -> str:
    if value is None:
        return "n/a"
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"  # pragma: no cover


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} s"


def _not_run(title: str, task_id: str) -> str:
    return fit(
        [
            title,
            f"{FAILED} Not done: `{task_id}` failed, or did not run because a step before it failed "
            "(failures are posted to Slack). See the log, fix the cause and clear the task.",
        ],
        [],
    )


def index_text(reindexed: list[dict] | None, analyzed: list[dict] | None) -> str:
    title = (
        '*Index maintenance* (runbook 4 "Index Maintenance (Monthly)": REINDEX TABLE CONCURRENTLY, '
        "then ANALYZE)"
    )
    if reindexed is None and analyzed is None:
        return _not_run(title, "reindex_tables")
    by_table: dict[str, dict] = {}
    for r in reindexed or []:
        by_table.setdefault(r["table"], {})["reindex"] = r
    for a in analyzed or []:
        by_table.setdefault(a["table"], {})["analyze"] = a
    items = []
    for table, parts in by_table.items():
        r, a = parts.get("reindex"), parts.get("analyze")
        if r is None:
            line, ok = "reindex did not run", False
        elif r["status"] == "reindexed":
            line = (
                f"{plural(r['indexes'], 'index', 'indexes')} rebuilt in {_seconds(r['seconds'])} "
                f"(attempt {r['attempts']}), {size(r['size_before_bytes'])} → {size(r['size_after_bytes'])}"
            )
            ok = True
        else:
            line = f"NOT rebuilt after {plural(r['attempts'], 'attempt')}: {escape(r['error'])}"
            ok = False
        if a is None:
            line += "; ANALYZE did not run"
            ok = False
        elif a["status"] == "analyzed":
            line += f"; analyzed in {_seconds(a['seconds'])}, ~{num(a['estimated_rows'])} rows"
        else:
            line += f"; ANALYZE FAILED: {escape(a['error'])}"
            ok = False
        if r and r.get("leftovers_dropped"):
            dropped = len(r["leftovers_dropped"])
            line += f" ({plural(dropped, 'INVALID copy', 'INVALID copies')} left by a failed attempt dropped)"
        items.append(f"{OK if ok else FAILED} `{escape(table)}`: {line}")
    tail = []
    if any(r["status"] != "reindexed" for r in reindexed or []):
        tail.append(
            "A table not rebuilt is usually a lock timeout (a long transaction held it): clear "
            "`reindex_tables` when the system is quieter."
        )
    return fit([title], items, tail)


def invalid_text(result: dict | None) -> str:
    title = "*Invalid indexes* (left INVALID by a failed concurrent rebuild: `*_ccnew`, `*_ccold`)"
    if result is None:
        return _not_run(title, "invalid_indexes")
    indexes = result["indexes"]
    if not indexes:
        return fit([title, f"{OK} None."], [])
    items = []
    for i in indexes:
        what = f"`{escape(i['index'])}` on `{escape(i['table'])}` ({size(i['size_bytes'])})"
        if i["status"] == "dropped":
            items.append(f"{OK} {what}: dropped (DROP INDEX CONCURRENTLY)")
        elif i["status"] == "gone":
            items.append(f"{OK} {what}: gone")
        elif i["build_in_progress"]:
            items.append(f"{INFO} {what}: an index build is running on its table; left alone")
        elif not i["leftover"]:
            items.append(
                f"{WARN} {what}: not a rebuild leftover (a failed CREATE INDEX CONCURRENTLY?): "
                f"drop it or rebuild it by hand"
            )
        elif i["status"] in ("failed", "skipped"):
            items.append(f"{FAILED} {what}: not dropped: {escape(i['error'])}")
        else:
            items.append(f"{WARN} {what}: kept")
    tail = []
    if not result["drop_enabled"] and any(i["leftover"] and i["status"] == "kept" for i in indexes):
        tail.append(
            f"Leftovers are still maintained on every write and never used. To drop them next "
            f'time, set the Variable `{MAINTENANCE_VARIABLE}` to `{{"drop_invalid_indexes": true}}`; '
            "now: `DROP INDEX CONCURRENTLY <name>`."
        )
    return fit([title], items, tail)


def cleanup_text(result: dict | None) -> str:
    title = '*Clean up completed enrollments > 90 days* (runbook 7 "Monthly")'
    if result is None:
        return _not_run(title, "cleanup_completed_enrollments")
    counts = result["enrollments"]
    verb = "archived" if result["mode"] == "archive" else "deleted"
    where = " into `lead_campaign_enrollments_archive`" if result["mode"] == "archive" else ""
    head = [
        title,
        f"{OK} {num(counts['moved'])} enrollments completed before {minute(result['older_than'])} "
        f"{verb}{where}, {plural(result['batches'], 'batch', 'batches')} of up to "
        f"{num(result['batch_size'])}, {_seconds(result.get('seconds'))}",
        f"Reconciled: live {num(counts['live_before'])} → {num(counts['live_after'])}, archived "
        f"{num(counts['archived_before'])} → {num(counts['archived_after'])} "
        f"(live + {'archived' if result['mode'] == 'archive' else 'deleted'} = before)",
    ]
    if result.get("left_locked"):
        head.append(
            f"{WARN} {num(result['left_locked'])} were locked by other sessions and left live: "
            "the next run moves them."
        )
    return fit(head, [])


TREND_WORDS = {"new": "new", "up": "up", "down": "down", "same": "same", "none": "none"}


def workflows_text(result: dict | None) -> str:
    title = '*Review and optimize slow workflows* (runbook 7 "Monthly")'
    if result is None:
        return _not_run(title, "review_slow_workflows")
    head = [
        title,
        f"Month {minute(result['month_start'])} → {minute(result['month_end'])}: "
        f"{plural(result['error_count'], 'workflow error')} (month before: "
        f"{num(result['previous_error_count'])}, {result['trend']})",
    ]
    items = []
    for w in result["workflows"]:
        flag = WARN if w["trend"] in ("up", "new") else (INFO if w["error_count"] else OK)
        durations = (
            f"{plural(w['executions'], 'execution')}"
            + (f" ({num(w['failed_executions'])} not successful)" if w["failed_executions"] else "")
            + (
                f", mean {num(w['mean_duration_ms'])} ms, max {num(w['max_duration_ms'])} ms"
                if w["mean_duration_ms"] is not None
                else ""
            )
        )
        items.append(
            f"{flag} {escape(w['workflow_name'])}: {plural(w['error_count'], 'error')} "
            f"(before {num(w['previous_error_count'])}, {w['trend']}); {durations}"
        )
    if not items:
        items.append(f"{OK} No workflow errors and no executions recorded.")
    more = result["workflow_count"] - len(result["workflows"])
    tail = [f"_…and {plural(more, 'more workflow')}_"] if more > 0 else []
    if result["rising"]:
        tail.append(
            "Rising errors: look at the workflow's failing node in N8n (execution history), then "
            "its slowest steps (mean/max above)."
        )
    return fit(head, items, tail)


def silences_text(result: dict | None) -> str:
    title = "*Alert silences during the maintenance*"
    if result is None:
        return fit(
            [
                title,
                f"{WARN} `lift_silences` did not report: check `nurture_ops.alert_silences` for silences "
                "with reason 'monthly maintenance ...' still active.",
            ],
            [],
        )
    keys = ", ".join(f"`{escape(k)}`" for k in result["alert_keys"]) or "none"
    start = minute(result["starts_at"]) if result.get("starts_at") else "?"
    return fit([title, f"{OK} {keys}: silenced from {start}, lifted at {minute(result['lifted_at'])}"], [])


def reminders_text(items: tuple[str, ...], cadence: str) -> str:
    return fit([f'*Still to do by hand* (runbook 7 "{cadence}")'], [f"☐ {escape(i)}" for i in items])


def monthly_report(parts: dict[str, Any], *, at: datetime) -> tuple[list[str], str]:
    """Sections and summary line of the monthly maintenance report; a part is None when its task
    failed before reporting (the report says so and the summary starts with ATTENTION)."""
    flags, fine = [], []
    reindexed, analyzed = parts.get("reindex_tables"), parts.get("analyze_tables")
    if reindexed is None:
        flags.append("reindex did not run")
    else:
        done = [r["table"] for r in reindexed if r["status"] == "reindexed"]
        failed = [r["table"] for r in reindexed if r["status"] != "reindexed"]
        if failed:
            flags.append(f"reindex FAILED for {', '.join(failed)}")
        fine.append(f"{plural(len(done), 'table')} reindexed")
    if analyzed is None or any(a["status"] != "analyzed" for a in analyzed):
        flags.append("ANALYZE incomplete")
    invalid = parts.get("invalid_indexes")
    if invalid is None:
        flags.append("invalid indexes not checked")
    elif invalid["remaining"]:
        flags.append(f"{plural(len(invalid['remaining']), 'INVALID index', 'INVALID indexes')} left")
    else:
        dropped = sum(1 for i in invalid["indexes"] if i["status"] == "dropped")
        fine.append("no invalid index" + (f" ({num(dropped)} dropped)" if dropped else ""))
    cleanup = parts.get("cleanup_completed_enrollments")
    if cleanup is None:
        flags.append("cleanup of completed enrollments FAILED")
    else:
        verb = "archived" if cleanup["mode"] == "archive" else "deleted"
        fine.append(f"{plural(cleanup['enrollments']['moved'], 'completed enrollment')} {verb} (reconciled)")
    workflows = parts.get("review_slow_workflows")
    if workflows is None:
        flags.append("workflow review failed")
    elif workflows["rising"]:
        flags.append(f"workflow errors rising: {', '.join(workflows['rising'][:3])}")
    else:
        fine.append(f"{plural(workflows['error_count'], 'workflow error')} ({workflows['trend']})")
    if parts.get("lift_silences") is None:
        flags.append("silences not lifted")
    summary = "; ".join(([f"ATTENTION: {', '.join(flags)}"] if flags else []) + fine)
    headline = [
        f"*Monthly maintenance* of {at.date().isoformat()} (run {minute(at.isoformat())})",
        f"{WARN} Needs a look: {escape(', '.join(flags))}" if flags else f"{OK} Everything done",
    ]
    sections = [
        fit(headline, []),
        index_text(reindexed, analyzed),
        invalid_text(invalid),
        cleanup_text(cleanup),
        workflows_text(workflows),
        silences_text(parts.get("lift_silences")),
        reminders_text(MONTHLY_CHECKLIST_BY_HAND, "Monthly"),
    ]
    return sections, summary


def annual_report(result: dict) -> tuple[list[str], str]:
    """Sections and summary line of the annual archive report (final counts, reconciliation)."""
    sends, events = result["sends"], result["events"]
    cutoff = date.fromisoformat(result["cutoff"][:10]).isoformat()
    head = [
        '*Archive old data (> 1 year)* (runbook 7 "Annually")',
        f"Sends created before {minute(result['cutoff'])} and all their events → `email_sends_archive`, "
        f"`email_events_archive`; batches of {num(result['batch_size'])} (run {escape(result['run_id'])})",
    ]
    if result.get("dry_run"):
        batches = -(-sends["would_move"] // result["batch_size"])
        lines = [
            f"{INFO} DRY RUN: nothing changed. Would move {plural(sends['would_move'], 'send')} and "
            f"{plural(events['would_move'], 'event')} in about {plural(batches, 'batch', 'batches')}.",
            f"Already archived: {num(sends['archived_before'])} sends, {num(events['archived_before'])} events.",
            "To archive: trigger the DAG again with the same cutoff_date and dry_run off.",
        ]
        summary = (
            f"would archive {plural(sends['would_move'], 'send')} and "
            f"{plural(events['would_move'], 'event')} created before {cutoff}; nothing changed"
        )
        return [fit(head + lines, [])], summary
    lines = [
        f"{OK} Moved {plural(sends['moved'], 'send')} and {plural(events['moved'], 'event')} in "
        f"{plural(result['batches'], 'batch', 'batches')}, {_seconds(result.get('seconds'))}",
        f"• email_sends (created before the cutoff): live {num(sends['live_before'])} → "
        f"{num(sends['live_after'])}, archived {num(sends['archived_before'])} → {num(sends['archived_after'])}",
        f"• email_events (of those sends): live {num(events['live_before'])} → {num(events['live_after'])}, "
        f"archived {num(events['archived_before'])} → {num(events['archived_after'])}",
        f"{OK} Reconciled: live before = live after + moved, archived after = archived before + moved"
        if result.get("reconciled")
        else f"{FAILED} Not reconciled",
    ]
    if events.get("arrived_during_run"):
        lines.append(
            f"{INFO} {num(events['arrived_during_run'])} events arrived on old sends during the run and "
            "were moved with them."
        )
    if result.get("left_locked"):
        lines.append(
            f"{WARN} {num(result['left_locked'])} old sends were locked by other sessions and left live: "
            "trigger the DAG again to move them."
        )
    summary = (
        f"{plural(sends['moved'], 'send')} and {plural(events['moved'], 'event')} created before "
        f"{cutoff} archived, reconciled"
        + (f"; {num(result['left_locked'])} left live (locked), rerun" if result.get("left_locked") else "")
    )
    return [fit(head + lines, []), reminders_text(ANNUAL_CHECKLIST_BY_HAND, "Annually")], summary
