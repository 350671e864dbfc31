"""The Slack text of the monthly maintenance. Pure: the tasks' XComs in, mrkdwn sections out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from nurture_ops.core import text
from nurture_ops.core.settings import MAINTENANCE_VARIABLE
from nurture_ops.monthly_maintenance.indexes import OWNER_ROLE_PLACEHOLDER

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


def _reindex_line(r: dict) -> str:
    if r["status"] == "reindexed":
        return (
            f"{text.plural(r['indexes'], 'index', 'indexes')} rebuilt in {text.seconds(r['seconds'])} "
            f"(attempt {r['attempts']}), {text.size(r['size_before_bytes'])} → {text.size(r['size_after_bytes'])}"
        )
    if r["status"] in ("deferred", "skipped"):
        return f"NOT rebuilt: {r['status']}: {text.escape(r.get('reason'))}"
    return f"NOT rebuilt after {text.plural(r['attempts'], 'attempt')}: {text.escape(r['error'])}"


def _analyze_line(a: dict, r: dict | None) -> str:
    if a["status"] == "analyzed":
        return f"; analyzed in {text.seconds(a['seconds'])}, ~{text.num(a['estimated_rows'])} rows"
    if a["status"] == "skipped":
        reason = a.get("reason") or ""
        if r and r["status"] == "skipped" and r.get("reason") == reason:
            reason = reason.split(":")[0] + " either"  # said just before, for REINDEX
        return f"; ANALYZE skipped: {text.escape(reason)}"
    return f"; ANALYZE FAILED: {text.escape(a['error'])}"


def _index_tail(reindexed: list[dict], analyzed: list[dict]) -> list[str]:
    """What to do about the tables not done: one line per kind of problem, each fix once."""
    tail = []
    if any(r["status"] == "failed" for r in reindexed):
        tail.append(
            "A table not rebuilt is usually a lock timeout (a long transaction held it): clear "
            "`reindex_tables` when the system is quieter."
        )
    if any(r["status"] == "deferred" for r in reindexed):
        tail.append(
            "Deferred: the rebuild would have waited for that transaction after building the new "
            "indexes and thrown them away on the lock timeout, so it did not start. When it ends (or "
            f"once it may be ended: {text.code('SELECT pg_terminate_backend(<pid>)')}), clear "
            "`reindex_tables`."
        )
    fixes = list(dict.fromkeys(x["fix"] for x in [*reindexed, *analyzed] if x.get("fix")))
    if fixes:
        placeholder = any(OWNER_ROLE_PLACEHOLDER in fix for fix in fixes)
        tail.append(
            "Not owner: REINDEX and ANALYZE need the table's owner, or a member of the owning role. "
            f"Run {', '.join(text.code(fix, limit=300) for fix in fixes)}, then clear the task."
            + (
                f" (`{OWNER_ROLE_PLACEHOLDER}`: a NOLOGIN role without superuser; never grant a "
                "superuser role, that hands over everything it owns.)"
                if placeholder
                else ""
            )
        )
    warnings = dict.fromkeys(w for x in [*reindexed, *analyzed] for w in x.get("warnings") or [])
    tail.extend(f"{text.INFO} {text.escape(w)}" for w in warnings)
    return tail


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
        statuses = [r["status"] if r else "did not run", a["status"] if a else "did not run"]
        line = _reindex_line(r) if r else "reindex did not run"
        line += _analyze_line(a, r) if a else "; ANALYZE did not run"
        if r and r.get("leftovers_dropped"):
            dropped = len(r["leftovers_dropped"])
            line += f" ({text.plural(dropped, 'INVALID copy', 'INVALID copies')} left by a failed attempt dropped)"
        if statuses == ["reindexed", "analyzed"]:
            icon = text.OK
        elif "failed" in statuses or "did not run" in statuses:
            icon = text.FAILED
        else:
            icon = text.WARN
        items.append(f"{icon} `{text.escape(table)}`: {line}")
    return text.fit([title], items, _index_tail(reindexed or [], analyzed or []))


def invalid_text(result: dict | None) -> str:
    title = "*Invalid indexes* (left INVALID by a failed concurrent rebuild: `*_ccnew`, `*_ccold`)"
    if result is None:
        return _not_run(title, "invalid_indexes")
    indexes = result["indexes"]
    if not indexes:
        return text.fit([title, f"{text.OK} None."], [])
    items = []
    for i in indexes:
        on = "on the TOAST table of" if i.get("toast") else "on"
        what = f"`{text.escape(i['index'])}` {on} `{text.escape(i['table'])}` ({text.size(i['size_bytes'])})"
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
            f"now: {text.code('DROP INDEX CONCURRENTLY <schema>.<name>')} (a TOAST leftover: "
            f"{text.code('pg_toast.<name>')})."
        )
    return text.fit([title], items, tail)


def cleanup_text(result: dict | None) -> str:
    title = '*Clean up completed enrollments &gt; 90 days* (runbook 7 "Monthly")'
    if result is None:
        return _not_run(title, "cleanup_completed_enrollments")
    counts = result["enrollments"]
    verb = "archived" if result["mode"] == "archive" else "deleted"
    where = " into `lead_campaign_enrollments_archive`" if result["mode"] == "archive" else ""
    if result.get("dry_run"):
        would = "be archived" if result["mode"] == "archive" else "be deleted"
        return text.fit(
            [
                title,
                f"{text.INFO} DRY RUN: {text.num(counts['would_move'])} enrollments completed before "
                f"{text.minute(result['older_than'])} would {would}{where}; nothing changed.",
                "To clean up: trigger the DAG again with dry_run off.",
            ],
            [],
        )
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
        f"{text.num(result['previous_error_count'])}, {text.escape(result['trend'])})",
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
            f"(before {text.num(w['previous_error_count'])}, {text.escape(w['trend'])}); {durations}"
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


def _not_done_flags(what: str, results: list[dict]) -> list[str]:
    """'reindex deferred for a, b (long transaction)', 'ANALYZE skipped for c (not owner)'."""
    groups: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r["status"] == "deferred":
            groups.setdefault(("deferred", "long transaction"), []).append(r["table"])
        elif r["status"] == "skipped":
            why = "not owner" if (r.get("reason") or "").startswith("not owner") else "see the report"
            groups.setdefault(("skipped", why), []).append(r["table"])
    return [f"{what} {status} for {', '.join(tables)} ({why})" for (status, why), tables in groups.items()]


PartSummary = tuple[list[str], list[str]]  # what the summary line says of a part: (flags, fine)


def _reindex_summary(reindexed: list[dict]) -> PartSummary:
    done = [r["table"] for r in reindexed if r["status"] == "reindexed"]
    failed = [r["table"] for r in reindexed if r["status"] not in ("reindexed", "deferred", "skipped")]
    flags = [f"reindex FAILED for {', '.join(failed)}"] if failed else []
    return flags + _not_done_flags("reindex", reindexed), [f"{text.plural(len(done), 'table')} reindexed"]


def _analyze_summary(analyzed: list[dict]) -> PartSummary:
    flags = _not_done_flags("ANALYZE", analyzed)
    if any(a["status"] not in ("analyzed", "skipped") for a in analyzed):
        flags.append("ANALYZE incomplete")
    return flags, []


def _invalid_summary(invalid: dict) -> PartSummary:
    if invalid["remaining"]:
        return [f"{text.plural(len(invalid['remaining']), 'INVALID index', 'INVALID indexes')} left"], []
    dropped = sum(1 for i in invalid["indexes"] if i["status"] == "dropped")
    return [], ["no invalid index" + (f" ({text.num(dropped)} dropped)" if dropped else "")]


def _cleanup_summary(cleanup: dict) -> PartSummary:
    verb = "archived" if cleanup["mode"] == "archive" else "deleted"
    if cleanup.get("dry_run"):
        return [], [
            f"DRY RUN: {text.plural(cleanup['enrollments']['would_move'], 'completed enrollment')} "
            f"would be {verb}"
        ]
    return [], [f"{text.plural(cleanup['enrollments']['moved'], 'completed enrollment')} {verb} (reconciled)"]


def _workflows_summary(workflows: dict) -> PartSummary:
    if workflows["rising"]:
        return [f"workflow errors rising: {', '.join(workflows['rising'][:3])}"], []
    return [], [f"{text.plural(workflows['error_count'], 'workflow error')} ({workflows['trend']})"]


# Each part's task id -> what the summary line says when it did not report (a flag), and what it
# says of its result; in the order of the summary.
SUMMARY_LINES: dict[str, tuple[str, Callable[[Any], PartSummary]]] = {
    "reindex_tables": ("reindex did not run", _reindex_summary),
    "analyze_tables": ("ANALYZE incomplete", _analyze_summary),
    "invalid_indexes": ("invalid indexes not checked", _invalid_summary),
    "cleanup_completed_enrollments": ("cleanup of completed enrollments FAILED", _cleanup_summary),
    "review_slow_workflows": ("workflow review failed", _workflows_summary),
    "lift_silences": ("silences not lifted", lambda _: ([], [])),
}


def monthly_report(parts: dict[str, Any], *, at: datetime) -> tuple[list[str], str]:
    """Sections and summary line of the monthly maintenance report; a part is None when its task
    failed before reporting (the report says so and the summary starts with ATTENTION)."""
    flags, fine = [], []
    for part, (not_reported, summarize) in SUMMARY_LINES.items():
        result = parts.get(part)
        part_flags, part_fine = ([not_reported], []) if result is None else summarize(result)
        flags += part_flags
        fine += part_fine
    summary = "; ".join(([f"ATTENTION: {', '.join(flags)}"] if flags else []) + fine)
    headline = [
        f"*Monthly maintenance* of {at.date().isoformat()} (run {text.minute(at.isoformat())})",
        f"{text.WARN} Needs a look: {text.escape(', '.join(flags))}"
        if flags
        else f"{text.OK} Everything done",
    ]
    sections = [
        text.fit(headline, []),
        index_text(parts.get("reindex_tables"), parts.get("analyze_tables")),
        invalid_text(parts.get("invalid_indexes")),
        cleanup_text(parts.get("cleanup_completed_enrollments")),
        workflows_text(parts.get("review_slow_workflows")),
        silences_text(parts.get("lift_silences")),
        text.reminders_text(MONTHLY_CHECKLIST_BY_HAND, "Monthly"),
    ]
    return sections, summary
