"""The Slack text of the monthly maintenance. Pure: the tasks' XComs in, mrkdwn sections out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nurture_ops.core import text
from nurture_ops.core.settings import MAINTENANCE_VARIABLE

MONTHLY_CHECKLIST_BY_HAND = (
    "Review and update documentation (the runbook, and these DAGs' docs in the Airflow UI)",
    "Rotate API keys (if security policy requires): SendGrid, N8n API key, database credentials",
)


def _not_run(title: str, task_id: str) -> str:
    return text.fit(
        [
            title,
            f"{text.FAILED} Not done: `{task_id}` failed, or did not run because a step before it failed "
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
                f"{text.plural(r['indexes'], 'index', 'indexes')} rebuilt in {text.seconds(r['seconds'])} "
                f"(attempt {r['attempts']}), {text.size(r['size_before_bytes'])} → {text.size(r['size_after_bytes'])}"
            )
            ok = True
        else:
            line = f"NOT rebuilt after {text.plural(r['attempts'], 'attempt')}: {text.escape(r['error'])}"
            ok = False
        if a is None:
            line += "; ANALYZE did not run"
            ok = False
        elif a["status"] == "analyzed":
            line += f"; analyzed in {text.seconds(a['seconds'])}, ~{text.num(a['estimated_rows'])} rows"
        else:
            line += f"; ANALYZE FAILED: {text.escape(a['error'])}"
            ok = False
        if r and r.get("leftovers_dropped"):
            dropped = len(r["leftovers_dropped"])
            line += f" ({text.plural(dropped, 'INVALID copy', 'INVALID copies')} left by a failed attempt dropped)"
        items.append(f"{text.OK if ok else text.FAILED} `{text.escape(table)}`: {line}")
    tail = []
    if any(r["status"] != "reindexed" for r in reindexed or []):
        tail.append(
            "A table not rebuilt is usually a lock timeout (a long transaction held it): clear "
            "`reindex_tables` when the system is quieter."
        )
    return text.fit([title], items, tail)


def invalid_text(result: dict | None) -> str:
    title = "*Invalid indexes* (left INVALID by a failed concurrent rebuild: `*_ccnew`, `*_ccold`)"
    if result is None:
        return _not_run(title, "invalid_indexes")
    indexes = result["indexes"]
    if not indexes:
        return text.fit([title, f"{text.OK} None."], [])
    items = []
    for i in indexes:
        what = f"`{text.escape(i['index'])}` on `{text.escape(i['table'])}` ({text.size(i['size_bytes'])})"
        if i["status"] == "dropped":
            items.append(f"{text.OK} {what}: dropped (DROP INDEX CONCURRENTLY)")
        elif i["status"] == "gone":
            items.append(f"{text.OK} {what}: gone")
        elif i["build_in_progress"]:
            items.append(f"{text.INFO} {what}: an index build is running on its table; left alone")
        elif not i["leftover"]:
            items.append(
                f"{text.WARN} {what}: not a rebuild leftover (a failed CREATE INDEX CONCURRENTLY?): "
                f"drop it or rebuild it by hand"
            )
        elif i["status"] in ("failed", "skipped"):
            items.append(f"{text.FAILED} {what}: not dropped: {text.escape(i['error'])}")
        else:
            items.append(f"{text.WARN} {what}: kept")
    tail = []
    if not result["drop_enabled"] and any(i["leftover"] and i["status"] == "kept" for i in indexes):
        tail.append(
            f"Leftovers are still maintained on every write and never used. To drop them next "
            f'time, set the Variable `{MAINTENANCE_VARIABLE}` to `{{"drop_invalid_indexes": true}}`; '
            "now: `DROP INDEX CONCURRENTLY <name>`."
        )
    return text.fit([title], items, tail)


def cleanup_text(result: dict | None) -> str:
    title = '*Clean up completed enrollments > 90 days* (runbook 7 "Monthly")'
    if result is None:
        return _not_run(title, "cleanup_completed_enrollments")
    counts = result["enrollments"]
    verb = "archived" if result["mode"] == "archive" else "deleted"
    where = " into `lead_campaign_enrollments_archive`" if result["mode"] == "archive" else ""
    head = [
        title,
        f"{text.OK} {text.num(counts['moved'])} enrollments completed before {text.minute(result['older_than'])} "
        f"{verb}{where}, {text.plural(result['batches'], 'batch', 'batches')} of up to "
        f"{text.num(result['batch_size'])}, {text.seconds(result.get('seconds'))}",
        f"Reconciled: live {text.num(counts['live_before'])} → {text.num(counts['live_after'])}, archived "
        f"{text.num(counts['archived_before'])} → {text.num(counts['archived_after'])} "
        f"(live + {'archived' if result['mode'] == 'archive' else 'deleted'} = before)",
    ]
    if result.get("left_locked"):
        head.append(
            f"{text.WARN} {text.num(result['left_locked'])} were locked by other sessions and left live: "
            "the next run moves them."
        )
    return text.fit(head, [])


def workflows_text(result: dict | None) -> str:
    title = '*Review and optimize slow workflows* (runbook 7 "Monthly")'
    if result is None:
        return _not_run(title, "review_slow_workflows")
    head = [
        title,
        f"Month {text.minute(result['month_start'])} → {text.minute(result['month_end'])}: "
        f"{text.plural(result['error_count'], 'workflow error')} (month before: "
        f"{text.num(result['previous_error_count'])}, {result['trend']})",
    ]
    items = []
    for w in result["workflows"]:
        flag = text.WARN if w["trend"] in ("up", "new") else (text.INFO if w["error_count"] else text.OK)
        durations = (
            f"{text.plural(w['executions'], 'execution')}"
            + (f" ({text.num(w['failed_executions'])} not successful)" if w["failed_executions"] else "")
            + (
                f", mean {text.num(w['mean_duration_ms'])} ms, max {text.num(w['max_duration_ms'])} ms"
                if w["mean_duration_ms"] is not None
                else ""
            )
        )
        items.append(
            f"{flag} {text.escape(w['workflow_name'])}: {text.plural(w['error_count'], 'error')} "
            f"(before {text.num(w['previous_error_count'])}, {w['trend']}); {durations}"
        )
    if not items:
        items.append(f"{text.OK} No workflow errors and no executions recorded.")
    more = result["workflow_count"] - len(result["workflows"])
    tail = [f"_…and {text.plural(more, 'more workflow')}_"] if more > 0 else []
    if result["rising"]:
        tail.append(
            "Rising errors: look at the workflow's failing node in N8n (execution history), then "
            "its slowest steps (mean/max above)."
        )
    return text.fit(head, items, tail)


def silences_text(result: dict | None) -> str:
    title = "*Alert silences during the maintenance*"
    if result is None:
        return text.fit(
            [
                title,
                f"{text.WARN} `lift_silences` did not report: check `nurture_ops.alert_silences` for silences "
                "with reason 'monthly maintenance ...' still active.",
            ],
            [],
        )
    keys = ", ".join(f"`{text.escape(k)}`" for k in result["alert_keys"]) or "none"
    start = text.minute(result["starts_at"]) if result.get("starts_at") else "?"
    return text.fit(
        [title, f"{text.OK} {keys}: silenced from {start}, lifted at {text.minute(result['lifted_at'])}"], []
    )


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
        fine.append(f"{text.plural(len(done), 'table')} reindexed")
    if analyzed is None or any(a["status"] != "analyzed" for a in analyzed):
        flags.append("ANALYZE incomplete")
    invalid = parts.get("invalid_indexes")
    if invalid is None:
        flags.append("invalid indexes not checked")
    elif invalid["remaining"]:
        flags.append(f"{text.plural(len(invalid['remaining']), 'INVALID index', 'INVALID indexes')} left")
    else:
        dropped = sum(1 for i in invalid["indexes"] if i["status"] == "dropped")
        fine.append("no invalid index" + (f" ({text.num(dropped)} dropped)" if dropped else ""))
    cleanup = parts.get("cleanup_completed_enrollments")
    if cleanup is None:
        flags.append("cleanup of completed enrollments FAILED")
    else:
        verb = "archived" if cleanup["mode"] == "archive" else "deleted"
        fine.append(
            f"{text.plural(cleanup['enrollments']['moved'], 'completed enrollment')} {verb} (reconciled)"
        )
    workflows = parts.get("review_slow_workflows")
    if workflows is None:
        flags.append("workflow review failed")
    elif workflows["rising"]:
        flags.append(f"workflow errors rising: {', '.join(workflows['rising'][:3])}")
    else:
        fine.append(f"{text.plural(workflows['error_count'], 'workflow error')} ({workflows['trend']})")
    if parts.get("lift_silences") is None:
        flags.append("silences not lifted")
    summary = "; ".join(([f"ATTENTION: {', '.join(flags)}"] if flags else []) + fine)
    headline = [
        f"*Monthly maintenance* of {at.date().isoformat()} (run {text.minute(at.isoformat())})",
        f"{text.WARN} Needs a look: {text.escape(', '.join(flags))}"
        if flags
        else f"{text.OK} Everything done",
    ]
    sections = [
        text.fit(headline, []),
        index_text(reindexed, analyzed),
        invalid_text(invalid),
        cleanup_text(cleanup),
        workflows_text(workflows),
        silences_text(parts.get("lift_silences")),
        text.reminders_text(MONTHLY_CHECKLIST_BY_HAND, "Monthly"),
    ]
    return sections, summary
