"""The Slack text of the quarterly audit. Pure: the parts' result dicts in, mrkdwn sections out.

quarterly_report(parts, quarter=..., database=...)   -> (sections, summary)
"""

from __future__ import annotations

from typing import Any

from nurture_ops.core import text
from nurture_ops.core.settings import BACKUP_URL_VARIABLE
from nurture_ops.core.windows import Window
from nurture_ops.integrations.workflow_backups import EXPORT_MAX_AGE_DAYS

QUARTERLY_PARTS = ("capacity_review", "schema_readiness", "recovery_readiness")


# Parts that read the lead-nurture database (held back by probe_database when it is unreachable).
DATABASE_PARTS = frozenset(("capacity_review", "schema_readiness"))

TITLES = {
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


def _capacity_line(key: str, m: dict) -> str:
    name = CAPACITY_NAMES.get(key, key)
    digits = 1 if key == "emails_per_day" else 0
    level = (
        f"{text.num(m['current'], digits)} of {text.num(m['limit'])} ({text.num(m['percent_of_limit'], 2)}%)"
    )
    growth = m.get("growth_per_day")
    if growth is None:
        trend = "growth unknown (quarter too short)"
    else:
        pct = m.get("growth_percent_over_quarter")
        trend = (
            f"{text.num(m['first_week'], digits)} → {text.num(m['last_week'], digits)} over the quarter"
            + (f" ({'+' if pct >= 0 else ''}{text.num(pct)}%)" if pct is not None else "")
            + f", {'+' if growth >= 0 else ''}{text.num(growth, 3)}/day"
        )
    if m["status"] == "over_limit":
        when = "limit reached"
    elif m.get("projected_limit_date"):
        when = (
            f"limit projected {text.escape(m['projected_limit_date'])} "
            f"(in {text.num(m['days_to_limit'], 0)} days)"
        )
    else:
        when = "no limit date (not growing, or beyond 100 years)"
    flag = text.WARN + " " if m["status"] in ("over_limit", "act") else ""
    extra = ""
    if key == "emails_per_day" and m.get("busiest_day") is not None:
        extra = f"; busiest day {text.num(m['busiest_day'])} ({text.num(m.get('busiest_day_percent_of_limit'), 2)}%)"
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
        f"As of {text.minute(result['as_of'])}, growth from the quarter's first week (from "
        f"{text.minute(result['quarter_start'])}) to its last; status *{STATUS_WORDS.get(result.get('status'), '?')}*",
    ]
    items = [_capacity_line(k, metrics[k]) for k in order]
    tail = []
    for key, spec in (result.get("scaling") or {}).items():
        applies = ", ".join(
            CAPACITY_NAMES.get(k, k) for k in order if key in (metrics[k].get("scaling") or [])
        )
        tail.append(
            f"*{text.escape(spec['section'])}* (for {applies}; trigger: {text.escape(spec['trigger'])}): "
            f"{text.numbered(spec['actions'])}"
        )
    if not tail:
        tail.append("No scaling action needed before the next audit.")
    return text.fit(head, items, tail)


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
            found.append((text.plural(len(names), *words), names))
    return found


def schema_text(result: dict) -> str:
    title = f"*{TITLES['schema_readiness']}*"
    counts = (
        f"{text.num(result['tables']['expected'])} tables, {text.num(result['columns']['expected'])} columns, "
        f"{text.num(result['indexes']['expected'])} indexes, {text.num(result['constraints']['expected'])} constraints "
        f"from {', '.join(text.escape(f) for f in result.get('schema_files', [])) or 'the schema files'}"
    )
    problems = schema_problems(result)
    if not problems:
        return text.fit([title, f"{text.OK} Everything present: {counts}"], [])
    head = [title, f":rotating_light: Not ready (expected {counts}):"]
    items = [f"• *{label}*: {', '.join(text.escape(n) for n in names)}" for label, names in problems]
    tail = [
        "Recreate them from include/sql/schema (CREATE INDEX CONCURRENTLY for indexes) and rerun the audit; "
        "a recovery from backup must end with this check passing (runbook 6, Restore Database)."
    ]
    return text.fit(head, items, tail)


def recovery_text(result: dict) -> str:
    title = f"*{TITLES['recovery_readiness']}*"
    where = text.code(result["location"], 300)
    limit = result.get("max_age_days", EXPORT_MAX_AGE_DAYS)
    if result.get("last_export") is None:
        return text.fit(
            [
                title,
                f"{text.WARN} No workflow export found under {where}: N8n could not be restored "
                '(runbook 6, Restore N8n: "Import workflow definitions").',
                "Check nurture_weekly_review.export_workflow_definitions and the Variable "
                f"`{BACKUP_URL_VARIABLE}`.",
            ],
            [],
        )
    age = result["age_days"]
    if result.get("recent"):
        return text.fit(
            [
                title,
                f"{text.OK} Last workflow export {text.escape(result['last_export'])} "
                f"({text.plural(age, 'day')} before the run, "
                f"&lt;= {limit}) under {where}",
            ],
            [],
        )
    return text.fit(
        [
            title,
            f"{text.WARN} Last workflow export {text.escape(result['last_export'])} is "
            f"{text.plural(age, 'day')} old (&gt; {limit}) "
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
                attention.append(f"{name} over the limit ({text.num(m['percent_of_limit'])}%)")
            elif m["status"] == "act":
                date_text = f", limit by {m['projected_limit_date']}" if m.get("projected_limit_date") else ""
                attention.append(f"{name} at {text.num(m['percent_of_limit'])}% of the limit{date_text}")
            elif m["status"] == "plan":
                fine.append(f"{name} limit projected {m['projected_limit_date']}")
        if capacity.get("status") == "ok":
            highest = max(metrics.items(), key=lambda kv: kv[1]["percent_of_limit"], default=None)
            if highest:
                fine.append(
                    f"capacity ok (highest: {CAPACITY_NAMES.get(highest[0], highest[0]).lower()} at "
                    f"{text.num(highest[1]['percent_of_limit'], 2)}%)"
                )
    recovery = parts.get("recovery_readiness")
    if recovery is not None:
        if recovery.get("last_export") is None:
            attention.append("no workflow export found")
        elif not recovery.get("recent"):
            attention.append(f"last workflow export {text.plural(recovery['age_days'], 'day')} old")
        else:
            fine.append(f"last workflow export {text.plural(recovery['age_days'], 'day')} old")
    attention += text.not_reviewed(parts, QUARTERLY_PARTS, database)
    summary = "; ".join(attention + fine)
    if attention:
        summary = f"ATTENTION: {summary}"
    headline = [
        f"*Quarter* {text.minute(quarter.start.isoformat())} → {text.minute(quarter.end.isoformat())} (3 months ending at the run)",
        f":rotating_light: *ATTENTION*: {text.escape('; '.join(attention))}"
        if attention
        else f"{text.OK} Nothing needs action",
    ]
    renderers = {
        "capacity_review": capacity_text,
        "schema_readiness": schema_text,
        "recovery_readiness": recovery_text,
    }
    sections = text.part_sections(
        headline, parts, renderers, titles=TITLES, database_parts=DATABASE_PARTS, database=database
    )
    return sections, summary
