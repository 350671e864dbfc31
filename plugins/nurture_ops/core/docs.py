"""The DAGs' docs (`doc_md`), generated from the catalog: the runbook's text is kept once. Pure.

A DAG file keeps a short prose intro (what it is for, schedule, how to trigger it) and appends
sections built here from the catalog data its tasks use, so docs and tasks cannot disagree:

    alert_docs(checks, probe=...)   checks table, runbook actions and diagnosis, inhibitions,
                                    how alerts are sent, silencing, guarded remediation
    checks_table(checks)            check + severity, SQL file, alert if, params, remediation
    threshold_text(threshold)       "failure_rate > 10%", "open_rate < 20% (target 30%)"
    scaling_steps(keys)             runbook 5 "When to Scale" (catalog.SCALING_GUIDELINES)
    md_table, key_values, checklist, numbered, params_table, heading, compose
                                    small helpers for the constants of the slow cadences

Everything reads the catalog when called (a changed threshold changes the docs) and nothing
else: no Variable, no connection, no file (SQL files are named, never read), no Airflow import.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from nurture_ops.core import catalog, escalation
from nurture_ops.core.catalog import Check, Threshold
from nurture_ops.core.per_organization import PER_ORGANIZATION
from nurture_ops.core.settings import (
    DEFAULT_REPEAT_INTERVAL_MINUTES,
    MODES,
    REMEDIATION_VARIABLE,
    THRESHOLDS_VARIABLE,
)
from nurture_ops.core.text import fmt_level

NONE = "—"
SQL_DIR = "include/sql/"


# ---- small Markdown helpers -------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A constant as people read it: 100,000; 0.5; true; the text itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "empty"
    if isinstance(value, int | float):
        return fmt_level(value)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def code(value: Any) -> str:
    """Inline code (a backtick inside becomes a quote)."""
    return "`" + str(value).replace("`", "'") + "`"


def duration(value: timedelta) -> str:
    """timedelta(minutes=15) -> '15 min'; 4 hours -> '4 h'; 1 day -> '1 day'."""
    minutes = int(value.total_seconds() // 60)
    if minutes and minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else value_text(value)
    return " ".join(text.split()).replace("|", "\\|") or NONE


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; cells are one line each, `|` escaped."""
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def key_values(items: Mapping[str, Any] | Iterable[tuple[str, Any]], *, code_keys: bool = False) -> str:
    """'- **key**: value' lines (a Mapping or (key, value) pairs)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return "\n".join(f"- {code(k) if code_keys else f'**{k}**'}: {value_text(v)}" for k, v in pairs)


def numbered(items: Iterable[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def bullets(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def checklist(done: Iterable[tuple[str, str]], by_hand: Iterable[str] = (), *, by_hand_note: str = "") -> str:
    """The runbook's checklist: items this DAG does (with how), then those left to do by hand."""
    lines = [f"- [x] {item} — {how}" for item, how in done]
    lines += [f"- [ ] {item} — by hand{by_hand_note}" for item in by_hand]
    return "\n".join(lines)


def heading(title: str, level: int = 4) -> str:
    return f"{'#' * level} {title}"


def section(title: str, *parts: str, level: int = 4) -> str:
    """A heading and its parts (empty parts left out), blank lines between."""
    return "\n\n".join([heading(title, level), *(p for p in parts if p)])


def compose(intro: str | None, *sections: str) -> str:
    """A DAG's doc_md: its prose intro (a module docstring), then the generated sections."""
    return (
        "\n\n".join(p.strip() for p in (inspect.cleandoc(intro or ""), *sections) if p and p.strip()) + "\n"
    )


def params_table(params: Mapping[str, Any]) -> str:
    """The trigger form's params (Airflow `Param`s or plain defaults): name, default, allowed, meaning.

    Duck-typed on Param's `value`, `schema` and `description`, so no Airflow import is needed.
    """
    rows = []
    for name, param in params.items():
        schema: Mapping[str, Any] = getattr(param, "schema", None) or {}
        default = getattr(param, "value", param)
        types = schema.get("type", type(default).__name__)
        types = [types] if isinstance(types, str) else list(types)
        allowed = "/".join(t for t in types if t != "null")
        if schema.get("format"):
            allowed += f" ({schema['format']})"
        if "minimum" in schema or "maximum" in schema:
            allowed += f" {value_text(schema.get('minimum', '…'))} – {value_text(schema.get('maximum', '…'))}"
        if "null" in types:
            allowed += ", or empty"
        meaning = " — ".join(x for x in (schema.get("title"), getattr(param, "description", None)) if x)
        rows.append((code(name), value_text(default), allowed, meaning or NONE))
    return md_table(("Param", "Default", "Allowed", "Meaning"), rows)


# ---- checks -----------------------------------------------------------------------------------


def threshold_text(threshold: Threshold) -> str:
    """'failure_rate > 10%', 'open_rate < 20% (target 30%)', 'stuck_emails > 0'."""
    op = ">" if threshold.direction == "above" else "<"
    text = f"{threshold.metric} {op} {fmt_level(threshold.alert)}{threshold.unit}"
    if threshold.target is not None:
        text += f" (target {fmt_level(threshold.target)}{threshold.unit})"
    return text


def alert_if(check: Check) -> str:
    if check.role == "probe":
        return "the database is unreachable: connecting or the probe SQL fails (short connect and statement timeouts)"
    text = ", ".join(threshold_text(t) for t in check.thresholds)
    if len(check.thresholds) > 1:
        text = f"any of {text}"
    if check.alert_level_only:
        text += "; a missed target is reported in the daily digest only"
    elif any(t.target is not None for t in check.thresholds):
        text += f"; past a target only: warning, past the alert level: {check.severity}"
    return text


def params_text(check: Check) -> str:
    parts = [f"window: last {duration(check.lookback)}"] if check.lookback else []
    parts += [f"{code(name)} = {value_text(value)}" for name, value in check.params.items()]
    return ", ".join(parts) or NONE


def remediation_text(key: str | None) -> str:
    if not key:
        return NONE
    spec = catalog.REMEDIATIONS[key]
    return f"{spec.title} ({code(spec.key)}): **{spec.default_mode}** by default, at most {value_text(spec.max_rows)} per run"


def check_label(check: Check) -> str:
    return f"**{check.title}** ({check.severity}) {code(check.key)}"


def checks_table(checks: Sequence[Check], *, probe: Check | None = None) -> str:
    """One row per check (the probe first when this DAG pages about it)."""
    rows = [
        (
            check_label(c),
            c.source or code(c.sql),
            alert_if(c),
            params_text(c),
            remediation_text(c.remediation),
        )
        for c in ([probe] if probe else []) + list(checks)
    ]
    headers = (
        "Check",
        f"SQL (`{SQL_DIR}`)",
        "Alert if",
        "Params (defaults)",
        "Remediation (default mode, cap)",
    )
    return md_table(headers, rows)


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def message_text(check: Check) -> str:
    """The alert's summary line with the params filled in and the measured values as {names}."""
    values = _KeepMissing({k: value_text(v) for k, v in check.params.items()})
    return check.summary.format_map(values)


def check_section(check: Check) -> str:
    """One check's runbook actions (numbered), diagnosis, message and remediation."""
    message = f'**Message:** "{message_text(check)}"'
    if check.details:
        message += " — with " + "; ".join(d.title for d in check.details)
    parts = [f"*Runbook {check.runbook_section}*", message, numbered(check.actions)]
    if check.diagnosis:
        parts.append("**Diagnosis:**\n\n" + numbered(check.diagnosis))
    if check.remediation:
        spec = catalog.REMEDIATIONS[check.remediation]
        fix = (
            f"**Remediation** {code(spec.key)}, {spec.title}: {spec.description}. Default mode "
            f"**{spec.default_mode}**, at most {value_text(spec.max_rows)} per run."
        )
        if spec.manual_steps:
            fix += " By hand (or over the cap):\n\n" + numbered(spec.manual_steps)
        parts.append(fix)
    return section(f"{check.title} — runbook actions", *parts)


def _cause(cause: str | None) -> str:
    return f" and names {cause}" if cause else ""


def inhibitions(checks: Sequence[Check], *, probe: Check | None = None) -> str:
    """Which alerts are held back while which fire ('held back while ... fires')."""
    selected = {c.key for c in checks}
    lines = []
    for check in checks:
        for inhibition in check.inhibited_by:
            root = catalog.CHECKS[inhibition.root]
            where = "" if root.key in selected else f" (a {root.cadence} check)"
            lines.append(
                f"**{check.title}** is held back while **{root.title}**{where} fires{_cause(inhibition.cause)}: "
                "it is recorded, and named in that alert instead of paging separately."
            )
    for root in checks:
        held = [
            f"{c.title}{' (when it names ' + i.cause + ')' if i.cause else ''}"
            for c in catalog.CHECKS.values()
            for i in c.inhibited_by
            if i.root == root.key and c.key not in selected
        ]
        if held:
            lines.append(
                f"While **{root.title}** fires it also holds back: {', '.join(held)} (other cadences)."
            )
    if probe is not None:
        lines.append(
            f"While **{probe.title}** fires, every other check is held back and only **{probe.title}** is "
            "sent (the database probe runs before every check)."
        )
    else:
        for p in catalog.probes():
            lines.append(
                f"Every check here is held back while **{p.title}** fires: nothing is evaluated while the "
                f"database is unreachable, and the {p.cadence} alerts page about it."
            )
    return section("Inhibitions", bullets(lines)) if lines else ""


def alert_lifecycle(checks: Sequence[Check]) -> str:
    """How a firing check reaches Slack, and where its thresholds are overridden."""
    example_check = next((c for c in checks if c.thresholds), None)
    lines = [
        f"Slack gets one message when an alert starts, a reminder every "
        f"{duration(timedelta(minutes=DEFAULT_REPEAT_INTERVAL_MINUTES))} while it fires, and one "
        "`[RESOLVED]` when it clears (state in `nurture_ops.alert_state`).",
        f"Thresholds and params above are the catalog's defaults (`plugins/nurture_ops/core/catalog.py`), "
        f"overridable per deployment in the Variable {code(THRESHOLDS_VARIABLE)} (read when a task runs)"
        + (
            ", e.g. "
            + code(
                f'{{"{example_check.key}": {{"{example_check.thresholds[0].metric}": {{"alert": <level>}}}}}}'
            )
            if example_check
            else ""
        )
        + f"; the reminder interval there as {code('repeat_interval_minutes')}.",
    ]
    lines += scope_and_escalation_lines(checks)
    return section("How alerts are sent", bullets(lines))


def scope_and_escalation_lines(checks: Sequence[Check]) -> list[str]:
    """Per-organization evaluation (core.per_organization) and the escalation matrix (core.escalation)."""
    lines = []
    for check in checks:
        spec = PER_ORGANIZATION.get(check.key)
        if spec:
            lines.append(
                f"**{check.title}** is also evaluated per organization ({code(spec.sql)}, one GROUP BY "
                f"organization_id per run; an organization with fewer than {spec.min_volume} sends in the window "
                "is no data): each organization its own alert state, one grouped message per run, held back "
                "while the global alert fires; levels per organization under "
                f"{code(check.key + '.per_organization')} in {code(THRESHOLDS_VARIABLE)}."
            )
    levels = sorted({escalation.level_for(c.severity).key for c in checks})
    for key in levels:
        level = escalation.LEVELS[key]
        pager = (
            f" PagerDuty ({code(escalation.PAGERDUTY_CONN_ID)}) is triggered and resolved."
            if level.pages
            else ""
        )
        wait = (
            f" Unacknowledged after {duration(level.escalate_after)}: escalated to {code(escalation.ESCALATION_CONN_ID)}."
            if level.escalate_after
            else ""
        )
        lines.append(f"Escalation matrix, {escalation.matrix_line(level)}.{pager}{wait}")
    return lines


def silencing(checks: Sequence[Check]) -> str:
    if not checks:
        return ""
    sql = (
        "INSERT INTO nurture_ops.alert_silences (alert_key, starts_at, ends_at, reason)\n"
        f"VALUES ('{checks[0].key}', now(), now() + interval '2 hours', 'incident #123');"
    )
    return section(
        "Silencing",
        "A silenced alert is still evaluated and recorded, but not sent; if it still fires when the "
        "silence ends, it is announced then:",
        f"```sql\n{sql}\n```",
    )


def remediation_section(checks: Sequence[Check]) -> str:
    keys = [c.remediation for c in checks if c.remediation]
    if not keys:
        return ""
    example = code(f'{{"{keys[0]}": {{"mode": "dry_run", "max_rows": <cap>}}}}')
    text = (
        "A fix runs only while its alert fires. Data fixes the runbook documents default to apply; "
        "anything acting on an external system defaults to off. A fix counts first and respects a row cap per run "
        "(over it: nothing changes and the message says how to run it by hand); every attempt is "
        "audited in `nurture_ops.remediation_audit`, then the check is re-run and the result reported in "
        f"the alert. Modes per fix ({', '.join(MODES)}) and caps in the Variable "
        f"{code(REMEDIATION_VARIABLE)}, e.g. {example}. Defaults:"
    )
    rows = [
        (
            code(k),
            catalog.REMEDIATIONS[k].title,
            f"**{catalog.REMEDIATIONS[k].default_mode}**",
            catalog.REMEDIATIONS[k].max_rows,
        )
        for k in keys
    ]
    return section(
        "Guarded remediation", text, md_table(("Fix", "What", "Default mode", "Cap per run"), rows)
    )


def alert_docs(checks: Sequence[Check], *, probe: Check | None = None) -> str:
    """Every generated section of an alert DAG, for the checks it runs (`checks_for(cadence)`) and
    the probe it pages about (`probe_for(cadence)`, None when another DAG does)."""
    return "\n\n".join(
        p
        for p in (
            section("Checks", checks_table(checks, probe=probe)),
            *(check_section(c) for c in ([probe] if probe else []) + list(checks)),
            inhibitions(checks, probe=probe),
            alert_lifecycle(checks),
            remediation_section(checks),
            silencing(checks),
        )
        if p
    )


# ---- scaling ----------------------------------------------------------------------------------


def scaling_steps(keys: Iterable[str] | None = None, *, level: int = 5) -> str:
    """Runbook 5 "When to Scale": each section's trigger and numbered actions."""
    guidelines = catalog.SCALING_GUIDELINES
    parts = []
    for key in keys if keys is not None else guidelines:
        g = guidelines[key]
        parts.append(
            f"{heading(g['section'], level)}\n\n**Trigger:** {g['trigger']}\n\n{numbered(g['actions'])}"
        )
    return "\n\n".join(parts)
