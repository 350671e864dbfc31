"""Slack texts of the weekly review and the quarterly audit, and the periods they cover.

Pure functions: the result dicts of review.py, audit.py and n8n.export_workflows in, Block Kit
section texts (Slack mrkdwn) out; no I/O and no clock (the caller passes the run's instant and
the environment). Every section lists its worst items first and stays under SECTION_LIMIT
characters (Slack rejects a section over 3,000), cutting the least bad items when it must.

    weekly_report(parts, week=..., database=..., export_error=...)   -> (sections, summary)
    quarterly_report(parts, quarter=..., database=...)               -> (sections, summary)

`parts` maps a task id to its XCom (None when the task failed or was skipped); the summary is
the message's one-line text after "[INFO] <title>: ", naming every missed target.
"""

from __future__ import annotations

import calendar
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nurture_ops.n8n import EXPORT_LABEL
from nurture_ops.review import SCHEDULER_ADVICE, SENDER_ADVICE, SLOW_QUERY_ADVICE
from nurture_ops.windows import Window

SECTION_LIMIT = 2500
LINE_LIMIT = 400
TOP_ITEMS = 5
QUERY_SHOWN_CHARS = 160

BACKUP_URL_VARIABLE = "nurture_ops_workflow_backup_url"
BACKUP_SUBDIR = ("nurture_ops", "workflow-backups")
EXPORT_MAX_AGE_DAYS = 8
WEEK = timedelta(days=7)
QUARTER_MONTHS = 3

WEEKLY_PARTS = (
    "query_performance",
    "scheduler_performance",
    "sender_performance",
    "unsubscribe_feedback",
    "export_workflow_definitions",
)
QUARTERLY_PARTS = ("capacity_review", "schema_readiness", "recovery_readiness")
# Parts that read the lead-nurture database (held back by probe_database when it is unreachable).
DATABASE_PARTS = frozenset(WEEKLY_PARTS[:4] + QUARTERLY_PARTS[:2])

TITLES = {
    "query_performance": "Query performance review",
    "scheduler_performance": "Scheduler performance",
    "sender_performance": "Sender performance",
    "unsubscribe_feedback": "Unsubscribe feedback",
    "export_workflow_definitions": "Workflow definitions backup",
    "capacity_review": "Capacity and scaling needs",
    "schema_readiness": "Schema readiness (disaster recovery: schema validation)",
    "recovery_readiness": "Recovery readiness (workflow definitions)",
}
CAPACITY_NAMES = {
    "active_enrollments": "Active enrollments",
    "emails_per_day": "Emails per day",
    "organizations": "Organizations",
}
STATUS_WORDS = {
    "over_limit": "OVER THE LIMIT",
    "act": "act now",
    "plan": "plan scaling",
    "ok": "ok",
}
STATUS_RANK = {"over_limit": 0, "act": 1, "plan": 2, "ok": 3}

WARN, OK, INFO, FAILED = ":warning:", ":white_check_mark:", ":information_source:", ":x:"


# -- periods and locations ------------------------------------------------------------------------


def utc_instant(at: datetime) -> datetime:
    """A plain stdlib UTC datetime (the context's logical date is a pendulum DateTime)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return datetime.fromtimestamp(at.timestamp(), tz=UTC).replace(microsecond=at.microsecond)


def week_window(at: datetime) -> Window:
    """The 7 days ending at the run's instant, half-open: [at - 7 days, at)."""
    at = utc_instant(at)
    return Window(at - WEEK, at)


def months_before(at: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the day clamped to the month's end)."""
    years, month0 = divmod(at.month - 1 - months, 12)
    year, month = at.year + years, month0 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def quarter_window(at: datetime) -> Window:
    """The 3 months ending at the run's instant, half-open: [at - 3 months, at)."""
    at = utc_instant(at)
    return Window(months_before(at, QUARTER_MONTHS), at)


def backup_url(configured: str | None, environ: Mapping[str, str]) -> str:
    """Where workflow exports go: the Variable's value, else $AIRFLOW_HOME/nurture_ops/workflow-backups.

    A value without a scheme is a local folder (made a file:// URL); s3://, gs://, file:// pass
    through. AIRFLOW_HOME defaults to ~/airflow as in Airflow itself.
    """
    value = (configured or "").strip()
    if value and "://" in value:
        return value
    if value:
        return Path(os.path.abspath(os.path.expanduser(value))).as_uri()
    home = environ.get("AIRFLOW_HOME") or os.path.join(environ.get("HOME", "~"), "airflow")
    return Path(os.path.abspath(os.path.expanduser(home)), *BACKUP_SUBDIR).as_uri()


def export_recency(
    labels: Iterable[str], at: datetime, *, location: str, max_age_days: int = EXPORT_MAX_AGE_DAYS
) -> dict[str, Any]:
    """Judge the newest complete export folder (`YYYY-MM-DD[-n]`, as export_workflows names them).

    labels: names of folders holding a manifest.json (written last, so the export is complete).
    Exports dated after the run's day are ignored (a rerun of a past audit judges that past).
    recent: the last export is at most max_age_days days before the run's day.
    """
    run_day = at.date()
    dated = []
    for label in labels:
        match = EXPORT_LABEL.match(label)
        if match:
            day = date.fromisoformat(match["date"])
            if day <= run_day:
                dated.append((day, int(match["n"] or 1), label))
    result: dict[str, Any] = {
        "location": location,
        "max_age_days": max_age_days,
        "exports": len(dated),
        "last_export": None,
        "age_days": None,
        "recent": False,
    }
    if dated:
        day, _, label = max(dated)
        age = (run_day - day).days
        result.update(last_export=label, age_days=age, recent=age <= max_age_days)
    return result


# -- formatting helpers -----------------------------------------------------------------------------


def escape(text: Any) -> str:
    """Slack mrkdwn control characters: &, <, > must be escaped in text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: Any, limit: int = QUERY_SHOWN_CHARS) -> str:
    """Inline code: escaped, no backticks, at most `limit` characters."""
    shown = str(text).replace("`", "'")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"`{escape(shown)}`"


def num(value: Any, digits: int = 1) -> str:
    """1234 -> '1,234'; 12.345 -> '12.3' (digits); None -> 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def minute(iso: str) -> str:
    """'2026-11-04T10:01:00+00:00' -> '2026-11-04 10:01 UTC'."""
    return iso[:16].replace("T", " ") + " UTC"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{num(count)} {word if count == 1 else (words or word + 's')}"


def numbered(items: Iterable[str]) -> str:
    return " ".join(f"{i}. {escape(item)}" for i, item in enumerate(items, 1))


def _clip(line: str) -> str:
    return line if len(line) <= LINE_LIMIT else line[: LINE_LIMIT - 1] + "…"


def fit(head: list[str], items: list[str], tail: Iterable[str] = (), *, limit: int = SECTION_LIMIT) -> str:
    """head + as many items as fit (worst first, so the least bad are cut) + tail, <= limit chars."""
    head, tail = [_clip(x) for x in head], [_clip(x) for x in tail]
    budget = limit - sum(len(x) + 1 for x in head + tail) - 40
    shown: list[str] = []
    for item in (_clip(x) for x in items):
        if len(item) + 1 > budget:
            break
        shown.append(item)
        budget -= len(item) + 1
    if len(shown) < len(items):
        shown.append(f"_…and {len(items) - len(shown)} more (see the task's XCom)_")
    text = "\n".join([*head, *shown, *tail])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def not_run_text(part: str, reason: str) -> str:
    return fit([f"*{TITLES.get(part, part)}*", f"{WARN} Not reviewed: {escape(reason)}"], [])


def _missing_reason(part: str, database: dict | None) -> str:
    if part in DATABASE_PARTS and database is not None and not database.get("ok", True):
        return (
            f"the database was unreachable ({database.get('error_class', '?')}), so this part was "
            "held back. Clear the run once the database is back to complete the review."
        )
    return "the task failed (its failure was posted to Slack); see its log, fix the cause and clear it."


# -- weekly review ------------------------------------------------------------------------------------


def query_performance_text(result: dict) -> str:
    """pg_stat_statements: slow statements first; 'not available' with how to enable it is no failure."""
    title = f"*{TITLES['query_performance']}* (pg_stat_statements, slowest mean first)"
    if not result.get("available"):
        return fit(
            [
                title,
                f"{INFO} Not available: {escape(result.get('reason', ''))}. This is not a failure; "
                "the review is blind to slow queries until it is enabled.",
                f"*How to enable:* {escape(result.get('how_to_enable', ''))}",
            ],
            [],
        )
    slow_ms = result.get("slow_ms", 500)
    queries = result.get("queries", [])
    slow = result.get("slow_count", 0)
    if slow:
        verdict = (
            f"{WARN} {plural(slow, 'statement')} over {num(slow_ms, 0)} ms mean: the runbook's "
            f'scaling trigger "Query response time &gt; {num(slow_ms, 0)}ms consistently"'
        )
    elif queries:
        verdict = (
            f"{OK} No statement over {num(slow_ms, 0)} ms mean ({plural(len(queries), 'statement')} reviewed)"
        )
    else:
        verdict = f"{OK} No statement on the runbook's tables recorded yet"
    head = [title, verdict]
    if result.get("spiky_count"):
        head.append(
            f"{plural(result['spiky_count'], 'statement')} spiked over {num(slow_ms, 0)} ms (max only)"
        )
    items = [
        f"• {WARN + ' ' if q.get('slow') else ''}{code(q['query'])}: mean {num(q['mean_ms'])} ms, "
        f"max {num(q['max_ms'])} ms, {plural(q['calls'], 'call')}"
        for q in queries[:TOP_ITEMS]
    ]
    tail = []
    if slow:
        tail.append(f"*Runbook:* {SLOW_QUERY_ADVICE}.")
        scaling = result.get("scaling") or {}
        if scaling:
            tail.append(f"If it persists, *{scaling['section']}*: {numbered(scaling['actions'])}")
    return fit(head, items, tail)


def scheduler_text(result: dict) -> str:
    target = result.get("target", {})
    seconds = num(target.get("seconds", 10), 0)
    title = f"*{TITLES['scheduler_performance']}* (target: {num(target.get('enrollments', 1000))} enrollments in &lt; {seconds} s per batch)"
    missed = result.get("minutes_missing_target", 0)
    measured = result.get("minutes_measured", 0)
    totals = (
        f"{plural(result.get('runs', 0), 'run')} ({num(result.get('unmeasured_runs', 0))} without a duration), "
        f"{num(result.get('enrollments_processed', 0))} enrollments, "
        f"{num(result.get('seconds_per_1000'), 2)} s per 1,000 overall"
    )
    if not result.get("runs"):
        return fit([title, f"{WARN} No Message Scheduler run recorded this week: nothing to measure"], [])
    if missed:
        verdict = f"{WARN} {plural(missed, 'minute')} of {num(measured)} measured missed the target"
    elif not measured:
        verdict = f"{WARN} No run recorded a duration (workflow_executions.duration_ms): cannot judge"
    else:
        verdict = f"{OK} All {plural(measured, 'measured minute')} on target"
    items = [
        f"• {WARN + ' ' if m['misses_target'] else ''}{minute(m['minute'])}: "
        f"{num(m['enrollments_processed'])} enrollments in {num(m['duration_seconds'])} s "
        f"(allowed {num(m['allowed_seconds'])} s, {num(m['seconds_per_1000'], 2)} s per 1,000)"
        for m in result.get("worst_minutes", [])[:TOP_ITEMS]
    ]
    head = [title, verdict, totals] + (["Worst minutes:"] if items else [])
    tail = [f"*Runbook (&gt; {seconds} s per batch):* {numbered(SCHEDULER_ADVICE)}"] if missed else []
    return fit(head, items, tail)


def sender_text(result: dict) -> str:
    target = result.get("target_per_minute", 100)
    title = (
        f"*{TITLES['sender_performance']}* (target: {num(target)} emails per minute while emails are waiting)"
    )
    missed = result.get("minutes_missing_target", 0)
    judged = result.get("minutes_judged", 0)
    totals = (
        f"{num(result.get('emails_sent', 0))} emails sent, peak {num(result.get('peak_sent_per_minute', 0))} "
        f"per minute, peak backlog {num(result.get('peak_backlog', 0))}"
    )
    if missed:
        verdict = (
            f"{WARN} {plural(missed, 'minute')} of {num(judged)} with a backlog sent fewer than "
            f"LEAST({num(target)}, backlog)"
        )
    elif judged:
        verdict = f"{OK} All {plural(judged, 'minute')} with a backlog on target"
    else:
        verdict = f"{OK} No emails were kept waiting: no minute to judge"
    items = [
        f"• {WARN + ' ' if w['shortfall'] else ''}{minute(w['minute'])}: {num(w['sent'])} sent, "
        f"{num(w['backlog_at_start'])} waiting (expected {num(w['expected'])}, short by {num(w['shortfall'])})"
        for w in result.get("worst_minutes", [])[:TOP_ITEMS]
    ]
    head = [title, verdict, totals] + (["Worst minutes:"] if items else [])
    tail = [f"*Runbook (&lt; {num(target)}/minute):* {numbered(SENDER_ADVICE)}"] if missed else []
    return fit(head, items, tail)


def unsubscribe_text(result: dict) -> str:
    title = f"*{TITLES['unsubscribe_feedback']}*"
    total, group = result.get("unsubscribes", 0), result.get("group_unsubscribes", 0)
    campaigns = sorted(
        result.get("campaigns", []),
        key=lambda c: (-(c["unsubscribes"] + c["group_unsubscribes"]), -(c.get("unsubscribe_rate") or 0)),
    )
    if not campaigns:
        return fit([title, f"{OK} No unsubscribes this week"], [])
    head = [
        title,
        f"{plural(total, 'unsubscribe')} and {plural(group, 'group unsubscribe')} in "
        f"{plural(len(campaigns), 'campaign')} (worst first)",
    ]
    items = []
    for c in campaigns:
        reasons = ", ".join(f"{escape(r['reason'])} ({num(r['count'])})" for r in c.get("reasons", []))
        if c.get("more_reasons"):
            reasons += f", +{num(c['more_reasons'])} more"
        rate = c.get("unsubscribe_rate")
        rate_text = f", {num(rate, 2)}% of {num(c['emails_sent'])} sent this week" if rate is not None else ""
        items.append(
            f"• *{escape(c['campaign_name'])}*: {plural(c['unsubscribes'], 'unsubscribe')} + "
            f"{num(c['group_unsubscribes'])} group ({plural(c['leads'], 'lead')}{rate_text})"
            + (f" — reasons: {reasons}" if reasons else "")
        )
    return fit(head, items)


def export_text(result: dict | None, error: str | None = None) -> str:
    title = f"*{TITLES['export_workflow_definitions']}* (runbook 6, weekly)"
    if result is None:
        lines = [
            title,
            f"{FAILED} *Export FAILED*: no workflow definitions were backed up this week.",
        ]
        if error:
            lines.append(f"Error: {code(error, 300)}")
        lines.append(
            "The failure was posted to Slack; earlier backups are untouched. Check that N8n runs and "
            "the `n8n_api` connection (host, API key), then clear the task to rerun the export."
        )
        return fit(lines, [])
    head = [
        title,
        f"{OK} {plural(result['workflows'], 'workflow')} ({num(result['active'])} active) exported to "
        f"{code(result['location'], 300)}",
    ]
    if result.get("first_export"):
        head.append("First export here: nothing to compare with.")
        return fit(head, [])
    kinds = ("changed", "added", "removed", "deactivated", "activated")
    counts = ", ".join(f"{num(result.get(f'{k}_count', 0))} {k}" for k in kinds)
    head.append(f"Since {escape(result.get('previous'))}: {counts}")
    items = []
    for kind in kinds:
        names = result.get(kind) or []
        if names:
            more = result.get(f"{kind}_count", len(names)) - len(names)
            listed = ", ".join(escape(n) for n in names) + (f" and {num(more)} more" if more > 0 else "")
            items.append(f"• {kind.capitalize()}: {listed}")
    return fit(head, items)


def _weekly_flags(parts: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(missed targets and problems, fine items) for the summary line."""
    flags, fine = [], []
    query = parts.get("query_performance")
    if query is not None:
        if not query.get("available"):
            fine.append("pg_stat_statements not enabled (query review skipped)")
        elif query.get("slow_count"):
            flags.append(
                f"{plural(query['slow_count'], 'slow statement')} over {num(query.get('slow_ms', 500), 0)} ms"
            )
        else:
            fine.append(f"no statement over {num(query.get('slow_ms', 500), 0)} ms")
    scheduler = parts.get("scheduler_performance")
    if scheduler is not None:
        if scheduler.get("minutes_missing_target"):
            seconds = num(scheduler.get("target", {}).get("seconds", 10), 0)
            flags.append(
                f"scheduler over {seconds} s per 1,000 enrollments in "
                f"{plural(scheduler['minutes_missing_target'], 'minute')}"
            )
        elif not scheduler.get("runs"):
            flags.append("no scheduler run recorded")
        elif not scheduler.get("minutes_measured"):
            flags.append("no scheduler run with a duration")
        else:
            fine.append("scheduler on target")
    sender = parts.get("sender_performance")
    if sender is not None:
        if sender.get("minutes_missing_target"):
            flags.append(
                f"sender under {num(sender.get('target_per_minute', 100))}/min with a backlog in "
                f"{plural(sender['minutes_missing_target'], 'minute')}"
            )
        else:
            fine.append("sender on target")
    unsubscribes = parts.get("unsubscribe_feedback")
    if unsubscribes is not None:
        fine.append(
            f"{plural(unsubscribes.get('unsubscribes', 0), 'unsubscribe')} "
            f"(+{num(unsubscribes.get('group_unsubscribes', 0))} group)"
        )
    export = parts.get("export_workflow_definitions")
    if export is None:
        flags.append("workflow export FAILED")
    else:
        kinds = ("changed", "added", "removed", "deactivated", "activated")
        changes = sum(export.get(f"{k}_count", 0) for k in kinds)
        done = "first export" if export.get("first_export") else plural(changes, "change")
        fine.append(f"{plural(export['workflows'], 'workflow')} exported ({done})")
    return flags, fine


def weekly_report(
    parts: dict[str, Any],
    *,
    week: Window,
    database: dict | None = None,
    export_error: str | None = None,
) -> tuple[list[str], str]:
    """Sections (a headline, then one per part) and the summary line of the weekly review."""
    flags, fine = _weekly_flags(parts)
    missing = [p for p in WEEKLY_PARTS[:4] if parts.get(p) is None]
    if missing:
        why = (
            "database unreachable" if database is not None and not database.get("ok", True) else "task failed"
        )
        flags.append(f"not reviewed ({why}): {', '.join(missing)}")
    summary = "; ".join(flags + fine)
    headline = [
        f"*Week* {minute(week.start.isoformat())} → {minute(week.end.isoformat())} (7 days ending at the run)",
        f"{WARN} Needs a look: {escape('; '.join(flags))}" if flags else f"{OK} Every runbook target met",
    ]
    renderers = {
        "query_performance": query_performance_text,
        "scheduler_performance": scheduler_text,
        "sender_performance": sender_text,
        "unsubscribe_feedback": unsubscribe_text,
    }
    sections = [fit(headline, [])]
    for part, render in renderers.items():
        result = parts.get(part)
        sections.append(
            render(result) if result is not None else not_run_text(part, _missing_reason(part, database))
        )
    sections.append(export_text(parts.get("export_workflow_definitions"), export_error))
    return sections, summary


# -- quarterly audit ----------------------------------------------------------------------------------


def _capacity_line(key: str, m: dict) -> str:
    name = CAPACITY_NAMES.get(key, key)
    digits = 1 if key == "emails_per_day" else 0
    level = f"{num(m['current'], digits)} of {num(m['limit'])} ({num(m['percent_of_limit'], 2)}%)"
    growth = m.get("growth_per_day")
    if growth is None:
        trend = "growth unknown (quarter too short)"
    else:
        pct = m.get("growth_percent_over_quarter")
        trend = (
            f"{num(m['first_week'], digits)} → {num(m['last_week'], digits)} over the quarter"
            + (f" ({'+' if pct >= 0 else ''}{num(pct)}%)" if pct is not None else "")
            + f", {'+' if growth >= 0 else ''}{num(growth, 3)}/day"
        )
    if m["status"] == "over_limit":
        when = "limit reached"
    elif m.get("projected_limit_date"):
        when = f"limit projected {m['projected_limit_date']} (in {num(m['days_to_limit'], 0)} days)"
    else:
        when = "no limit date (not growing, or beyond 100 years)"
    flag = WARN + " " if m["status"] in ("over_limit", "act") else ""
    extra = ""
    if key == "emails_per_day" and m.get("busiest_day") is not None:
        extra = f"; busiest day {num(m['busiest_day'])} ({num(m.get('busiest_day_percent_of_limit'), 2)}%)"
    return (
        f"• {flag}*{name}*: {level}{extra}; {trend}; {when} — *{STATUS_WORDS.get(m['status'], m['status'])}*"
    )


def capacity_text(result: dict) -> str:
    metrics = result.get("metrics", {})
    order = sorted(
        metrics, key=lambda k: (STATUS_RANK.get(metrics[k]["status"], 9), -metrics[k]["percent_of_limit"])
    )
    head = [
        f'*{TITLES["capacity_review"]}* (runbook 5 "Current Capacity")',
        f"As of {minute(result['as_of'])}, growth from the quarter's first week (from "
        f"{minute(result['quarter_start'])}) to its last; status *{STATUS_WORDS.get(result.get('status'), '?')}*",
    ]
    items = [_capacity_line(k, metrics[k]) for k in order]
    tail = []
    for key, spec in (result.get("scaling") or {}).items():
        applies = ", ".join(
            CAPACITY_NAMES.get(k, k) for k in order if key in (metrics[k].get("scaling") or [])
        )
        tail.append(
            f"*{spec['section']}* (for {applies}; trigger: {escape(spec['trigger'])}): {numbered(spec['actions'])}"
        )
    if not tail:
        tail.append("No scaling action needed before the next audit.")
    return fit(head, items, tail)


SCHEMA_PROBLEMS = (
    (("tables", "missing"), "missing table"),
    (("indexes", "missing"), "missing index", "missing indexes"),
    (("indexes", "invalid"), "invalid index", "invalid indexes"),
    (("columns", "missing"), "missing column"),
    (("constraints", "missing"), "missing constraint"),
    (("columns", "not_null_missing"), "missing NOT NULL"),
    (("constraints", "not_validated"), "unvalidated constraint"),
)


def schema_problems(result: dict) -> list[tuple[str, list[str]]]:
    """[(label with count, names)] of what is missing, tables and indexes first."""
    found = []
    for path, *words in SCHEMA_PROBLEMS:
        names = result.get(path[0], {}).get(path[1], [])
        if names:
            found.append((plural(len(names), *words), names))
    return found


def schema_text(result: dict) -> str:
    title = f"*{TITLES['schema_readiness']}*"
    counts = (
        f"{num(result['tables']['expected'])} tables, {num(result['columns']['expected'])} columns, "
        f"{num(result['indexes']['expected'])} indexes, {num(result['constraints']['expected'])} constraints "
        f"from {', '.join(result.get('schema_files', [])) or 'the schema files'}"
    )
    problems = schema_problems(result)
    if not problems:
        return fit([title, f"{OK} Everything present: {counts}"], [])
    head = [title, f":rotating_light: Not ready (expected {counts}):"]
    items = [f"• *{label}*: {', '.join(escape(n) for n in names)}" for label, names in problems]
    tail = [
        "Recreate them from include/sql/schema (CREATE INDEX CONCURRENTLY for indexes) and rerun the audit; "
        "a recovery from backup must end with this check passing (runbook 6, Restore Database)."
    ]
    return fit(head, items, tail)


def recovery_text(result: dict) -> str:
    title = f"*{TITLES['recovery_readiness']}*"
    where = code(result["location"], 300)
    limit = result.get("max_age_days", EXPORT_MAX_AGE_DAYS)
    if result.get("last_export") is None:
        return fit(
            [
                title,
                f"{WARN} No workflow export found under {where}: N8n could not be restored "
                '(runbook 6, Restore N8n: "Import workflow definitions").',
                "Check nurture_weekly_review.export_workflow_definitions and the Variable "
                f"`{BACKUP_URL_VARIABLE}`.",
            ],
            [],
        )
    age = result["age_days"]
    if result.get("recent"):
        return fit(
            [
                title,
                f"{OK} Last workflow export {result['last_export']} ({plural(age, 'day')} before the run, "
                f"&lt;= {limit}) under {where}",
            ],
            [],
        )
    return fit(
        [
            title,
            f"{WARN} Last workflow export {result['last_export']} is {plural(age, 'day')} old (&gt; {limit}) "
            f"under {where}: the weekly export is not running or failing.",
            "Check nurture_weekly_review.export_workflow_definitions and the `n8n_api` connection.",
        ],
        [],
    )


def quarterly_report(
    parts: dict[str, Any], *, quarter: Window, database: dict | None = None
) -> tuple[list[str], str]:
    """Sections and summary of the quarterly audit; the summary starts with "ATTENTION" when a
    table, index, column or constraint is missing, a capacity limit needs acting on, the last
    workflow export is missing or stale, or a part could not be reviewed."""
    attention, fine = [], []
    schema = parts.get("schema_readiness")
    if schema is not None:
        problems = schema_problems(schema)
        for label, names in problems:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            attention.append(f"{label} ({shown})")
        if not problems:
            fine.append("schema complete")
    capacity = parts.get("capacity_review")
    if capacity is not None:
        metrics = capacity.get("metrics", {})
        for key, m in sorted(metrics.items(), key=lambda kv: STATUS_RANK.get(kv[1]["status"], 9)):
            name = CAPACITY_NAMES.get(key, key).lower()
            if m["status"] == "over_limit":
                attention.append(f"{name} over the limit ({num(m['percent_of_limit'])}%)")
            elif m["status"] == "act":
                date_text = f", limit by {m['projected_limit_date']}" if m.get("projected_limit_date") else ""
                attention.append(f"{name} at {num(m['percent_of_limit'])}% of the limit{date_text}")
            elif m["status"] == "plan":
                fine.append(f"{name} limit projected {m['projected_limit_date']}")
        if capacity.get("status") == "ok":
            highest = max(metrics.items(), key=lambda kv: kv[1]["percent_of_limit"], default=None)
            if highest:
                fine.append(
                    f"capacity ok (highest: {CAPACITY_NAMES.get(highest[0], highest[0]).lower()} at "
                    f"{num(highest[1]['percent_of_limit'], 2)}%)"
                )
    recovery = parts.get("recovery_readiness")
    if recovery is not None:
        if recovery.get("last_export") is None:
            attention.append("no workflow export found")
        elif not recovery.get("recent"):
            attention.append(f"last workflow export {plural(recovery['age_days'], 'day')} old")
        else:
            fine.append(f"last workflow export {plural(recovery['age_days'], 'day')} old")
    missing = [p for p in QUARTERLY_PARTS if parts.get(p) is None]
    if missing:
        why = (
            "database unreachable" if database is not None and not database.get("ok", True) else "task failed"
        )
        attention.append(f"not reviewed ({why}): {', '.join(missing)}")
    summary = "; ".join(attention + fine)
    if attention:
        summary = f"ATTENTION: {summary}"
    headline = [
        f"*Quarter* {minute(quarter.start.isoformat())} → {minute(quarter.end.isoformat())} (3 months ending at the run)",
        f":rotating_light: *ATTENTION*: {escape('; '.join(attention))}"
        if attention
        else f"{OK} Nothing needs action",
    ]
    renderers = {
        "capacity_review": capacity_text,
        "schema_readiness": schema_text,
        "recovery_readiness": recovery_text,
    }
    sections = [fit(headline, [])]
    for part, render in renderers.items():
        result = parts.get(part)
        sections.append(
            render(result) if result is not None else not_run_text(part, _missing_reason(part, database))
        )
    return sections, summary
