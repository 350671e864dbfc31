"""Every Slack message of the package: Block Kit building (pure) and delivery.

Messages go through the Slack provider's incoming-webhook hook. Critical alerts and task
failures use the `slack_alerts` connection; warnings use `slack_warnings` when it exists, else
`slack_alerts`. Locally `slack_alerts` points at the Slack sink (dev/slack_sink.py).

Every message's top-level `text` (what Slack shows in notifications) starts with [CRITICAL],
[WARNING], [RESOLVED] or [INFO], then the runbook title and the value.

Slack parses that `text`, sections and context elements as mrkdwn: everything put into them
that is not the package's own markup (a finding's summary and scope, detail values, held-back
summaries, remediation results, error texts, report summary lines, even catalog wording) is
escaped here, once (`text.escape`); only the package's own links (`text.link`) stay raw, so an
organization named `<!channel> <https://evil.example|login>` reaches Slack as text. A Finding
keeps its summary plain (alert_state.last_summary, inhibition causes, remediation reasons):
it is escaped when a message is built. Report sections arrive as mrkdwn, escaped by their
builders; header blocks are plain_text and take raw text.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from nurture_ops.core.catalog import Check
from nurture_ops.core.escalation import level_for, matrix_line
from nurture_ops.core.evaluate import SEVERITY_RANK, Finding, describe_threshold
from nurture_ops.core.text import (
    EMOJI,
    context_block,
    escape,
    fit,
    fmt,
    fmt_level,
    header,
    link,
    numbered_lines,
    section,
    truncate,
)

log = logging.getLogger(__name__)

ALERTS_CONN_ID = "slack_alerts"
WARNINGS_CONN_ID = "slack_warnings"
SLACK_TIMEOUT_SECONDS = 10


def _detail_lines(check: Check, details: Any, limit: int = 5) -> list[str]:
    """The offender lists: each catalog `DetailList.line` template formatted with the row's
    values escaped (the template is the package's own mrkdwn)."""
    blocks = []
    for spec in check.details:
        rows = details.get(spec.key) if isinstance(details, dict) and spec.key else details
        if not isinstance(rows, list) or not rows:
            continue
        lines = []
        for row in rows[:limit]:
            values = {k: escape(fmt(v)) for k, v in row.items()} if isinstance(row, dict) else {}
            try:
                lines.append("• " + spec.line.format(**values))
            except (KeyError, IndexError, ValueError):
                lines.append("• " + ", ".join(f"{escape(k)}: {v}" for k, v in values.items()))
        blocks.append(f"*{escape(spec.title)}*\n" + "\n".join(lines))
    return blocks


def threshold_text(check: Check, finding: Finding) -> str:
    if finding.breached:
        level = finding.breached["level"]
        return f"threshold {fmt_level(level)}{finding.breached['unit']}"
    return describe_threshold(check.thresholds[0]) if check.thresholds else ""


def alert_text(check: Check, finding: Finding, kind: str) -> str:
    """The notification fallback: '[CRITICAL] High Email Failure Rate: 14.3% of 420 ... (threshold 10%)'
    (mrkdwn: the summary is escaped)."""
    label = "RESOLVED" if kind == "resolve" else finding.status.upper()
    threshold = threshold_text(check, finding)
    suffix = f" ({escape(threshold)})" if threshold else ""
    reminder = " (still firing)" if kind == "remind" else ""
    return f"[{label}] {escape(check.title)}{reminder}: {escape(finding.summary)}{suffix}"


def alert_message(
    check: Check,
    finding: Finding,
    *,
    kind: str,
    run_url: str | None = None,
    first_fired_at: str | None = None,
    held_back: list[dict] | None = None,
    remediation: dict | None = None,
    silence_ended: bool = False,
    operator_actions: list[dict] | None = None,
) -> dict:
    """Slack payload {text, blocks} for a fire / remind / resolve of one check.

    `operator_actions`: what operators did on the alert since its last message (state.unannounced_actions)."""
    text = alert_text(check, finding, kind)
    severity = "resolved" if kind == "resolve" else finding.status
    blocks = [header(f"{EMOJI.get(severity, '')} {severity.upper()} · {check.title}")]
    body = f"*{escape(finding.summary)}*"
    threshold = threshold_text(check, finding)
    if threshold:
        body += f"\n{escape(threshold.capitalize())}"
    if kind != "resolve" and (upstream := (finding.extra or {}).get("upstream")):
        body += f"\n{upstream_line(upstream)}"
    blocks.append(section(body))
    facts = [f"Runbook: {escape(check.runbook_section)}"]
    if first_fired_at:
        facts.append(f"Firing since {escape(first_fired_at[:16].replace('T', ' '))} UTC")
    if finding.scope:
        facts.append(f"Scope: {escape(finding.scope)}")
    if silence_ended:
        facts.append("A silence on this alert has ended and it still fires")
    if kind == "remind":
        facts.append("Reminder: still firing")
    blocks.append(context_block(" · ".join(facts)))
    if kind != "resolve":
        blocks.append(matrix_block(finding.status))
        blocks.extend(section(text_block) for text_block in _detail_lines(check, finding.details))
        if check.diagnosis:
            blocks.append(section("*Diagnosis*\n" + "\n".join(f"• {escape(d)}" for d in check.diagnosis)))
        blocks.append(section("*Runbook actions*\n" + numbered_lines(escape(a) for a in check.actions)))
    if held_back:
        lines = [f"• {escape(h['alert_key'])}: {escape(h.get('last_summary') or '')}" for h in held_back]
        # fit: up to 100 organizations may be held back; a Slack section takes 3000 characters.
        blocks.append(section(fit(["*Held back while this fires (consequences)*"], lines)))
    if remediation:
        blocks.append(section("*Remediation*\n" + remediation_text(remediation)))
    if operator_actions:
        blocks.append(section("*Operator actions*\n" + "\n".join(action_line(a) for a in operator_actions)))
    if run_url:
        blocks.append(context_block(link(run_url, "Open this run in Airflow")))
    return {"text": text, "blocks": blocks}


def matrix_block(severity: str | None) -> dict:
    """The escalation matrix's line for a severity (or a level key): 'High · respond within 1 hour
    · escalates to Team lead → Engineering manager' (core.escalation)."""
    return context_block(f"Escalation: {escape(matrix_line(level_for(severity)))}")


_GROUP_SECTIONS = (("fire", "Started firing"), ("remind", "Still firing (reminder)"), ("resolve", "Resolved"))


def organization_group_message(
    check: Check,
    entries: list[tuple[Any, Finding]],
    *,
    run_url: str | None = None,
    operator_actions: list[dict] | None = None,
) -> dict:
    """One message for the organizations of one check in one run (alerting.organizations):
    `entries` are (decision, finding) pairs, decision.kind fire / remind / resolve. The text
    counts them: '[CRITICAL] High Email Failure Rate, per organization: 2 started firing, 1 resolved'."""
    by_kind = {kind: [f for d, f in entries if d.kind == kind] for kind, _ in _GROUP_SECTIONS}
    firing = by_kind["fire"] + by_kind["remind"]
    worst = max((f.status for f in firing), key=lambda s: SEVERITY_RANK.get(s, 0), default=None)
    label = worst or "resolved"
    counts = ", ".join(
        f"{len(by_kind[kind])} {title.lower().replace(' (reminder)', '')}"
        for kind, title in _GROUP_SECTIONS
        if by_kind[kind]
    )
    text = f"[{label.upper()}] {escape(check.title)}, per organization: {counts}"
    blocks = [header(f"{EMOJI.get(label, '')} {label.upper()} · {check.title} · per organization")]
    for kind, title in _GROUP_SECTIONS:
        findings = by_kind[kind]
        if not findings:
            continue
        lines = []
        for finding in findings:
            threshold = threshold_text(check, finding) if kind != "resolve" else ""
            lines.append(f"• {escape(finding.summary)}" + (f" ({escape(threshold)})" if threshold else ""))
        blocks.append(section(fit([f"*{title}*"], lines)))
    blocks.append(
        context_block(
            f"Runbook: {escape(check.runbook_section)} · one alert per organization, grouped per run; "
            "held back while the global alert fires"
        )
    )
    if firing:
        blocks.append(matrix_block(worst))
        blocks.append(section("*Runbook actions*\n" + numbered_lines(escape(a) for a in check.actions)))
    if operator_actions:  # on the Lead Nurture page, per organization (state.unannounced_actions)
        blocks.append(section(fit(["*Operator actions*"], [action_line(a) for a in operator_actions])))
    if run_url:
        blocks.append(context_block(link(run_url, "Open this run in Airflow")))
    return {"text": text, "blocks": blocks}


def escalation_message(rows: list[dict], *, run_url: str | None = None) -> dict:
    """The message to slack_escalation for alerts unacknowledged past their response time
    (alerting.escalation): rows are alert states (alert_key, scope, severity, first_fired_at,
    last_summary, and the catalog title as "title")."""
    levels = [level_for(r["severity"]) for r in rows]
    worst = level_for("critical" if any(lv.key == "critical" for lv in levels) else "warning")
    names = ", ".join(dict.fromkeys(r.get("title") or r["alert_key"] for r in rows))
    text = f"[ESCALATED] {escape(worst.name)}: {len(rows)} alert(s) unacknowledged past their response time: {escape(names)}"
    blocks = [header(f"{EMOJI['critical']} ESCALATED · {worst.name} · {len(rows)} alert(s) unacknowledged")]
    lines = []
    for row, level in zip(rows, levels, strict=True):
        since = str(row["first_fired_at"])[:16].replace("T", " ")
        where = f" ({escape(row['scope'])})" if row["scope"] else ""
        lines.append(
            f"• *{escape(row.get('title') or row['alert_key'])}*{where}: {escape(row.get('last_summary') or '')}\n"
            f"   firing since {escape(since)} UTC; {escape(level.name)}: respond {escape(level.response)} · "
            f"escalates to {escape(' → '.join(level.path))}"
        )
    blocks.append(section(fit([], lines)))
    blocks.append(matrix_block(worst.key))
    if run_url:
        blocks.append(context_block(link(run_url, "Open this run in Airflow")))
    return {"text": text, "blocks": blocks}


def upstream_line(upstream: dict) -> str:
    """What the outside said when the alert fired (alerting.api_checks.enrich), escaped; bold when
    the cause is likely upstream."""
    line = escape(upstream.get("text") or "")
    return f"{EMOJI['critical']} *{line}*" if upstream.get("likely_upstream") else line


ACTION_WORDS = {"silence": "Silenced", "lift": "Silence lifted", "acknowledge": "Acknowledged"}


def action_line(action: dict) -> str:
    """'• Acknowledged by alice at 2026-06-01 12:00 UTC: looking into it' (escaped), one
    nurture_ops.alert_actions row; a silence adds its end."""
    acted_at = action["acted_at"]
    when = acted_at.strftime("%Y-%m-%d %H:%M") if hasattr(acted_at, "strftime") else str(acted_at)[:16]
    line = (
        f"• {ACTION_WORDS.get(action['action'], action['action'])} by {escape(action['actor'])} at {when} UTC"
    )
    ends_at = (action.get("detail") or {}).get("ends_at")
    if action["action"] == "silence" and ends_at:
        line += f" until {escape(str(ends_at)[:16].replace('T', ' '))} UTC"
    if action.get("scope"):
        line += f" (scope {escape(action['scope'])})"
    return line + f": {escape(action['reason'])}"


def remediation_text(result: dict) -> str:
    """A remediation's result (plain text from the runner: names, counts, errors), escaped."""
    lines = [
        f"{escape(result.get('title', result.get('key')))}: *{escape(result.get('outcome'))}* "
        f"(mode {escape(result.get('mode'))})"
    ]
    if result.get("message"):
        lines.append(escape(result["message"]))
    if result.get("recheck"):
        lines.append(f"Re-check after the fix: {escape(result['recheck'])}")
    approval = result.get("approval")
    if approval and approval.get("links"):
        lines.append(
            f"Approval requested ({escape(approval['run_id'])}): "
            + link(approval["links"]["request"], "approve or reject in Airflow (Required Actions)")
            + "; nothing changes without it, and nobody answering within the timeout rejects it"
        )
    elif approval and approval.get("error"):
        lines.append(f"Could not request approval: {escape(approval['error'])}")
    return "\n".join(lines)


def info_message(
    title: str, lines: list[str], *, run_url: str | None = None, summary: str = "", level: str = "low"
) -> dict:
    """A digest or report (daily digest, weekly summary): [INFO] prefix, one section per line group.

    `title` and `summary` are plain text (escaped here for the notification text; the header is
    plain_text); `lines` are mrkdwn sections whose data their builder escaped."""
    blocks = [header(f"{EMOJI['info']} {title}")]
    blocks.extend(section(line) for line in lines if line)
    blocks.append(matrix_block(level))  # reports are Low, the weekly review Medium (core.escalation)
    if run_url:
        blocks.append(context_block(link(run_url, "Open this run in Airflow")))
    text = f"[INFO] {escape(title)}" + (f": {escape(summary)}" if summary else "")
    return {"text": text, "blocks": blocks}


def connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # the SDK raises different "not found" types by version
        return False
    return True


def route(severity: str) -> str:
    """Warnings to slack_warnings when configured; everything else to slack_alerts."""
    if severity == "warning" and connection_exists(WARNINGS_CONN_ID):
        return WARNINGS_CONN_ID
    return ALERTS_CONN_ID


def send(message: dict, conn_id: str = ALERTS_CONN_ID) -> None:
    """Post one message; raises with a clear error when Slack (or the sink) refuses or is down."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=SLACK_TIMEOUT_SECONDS)
    try:
        hook.send(text=message["text"], blocks=message.get("blocks"))
    except Exception as exc:
        raise RuntimeError(
            f"Slack did not accept the message through connection {conn_id!r} ({type(exc).__name__}: {exc}). "
            "Check the webhook URL in that connection; the alert stays 'not notified' and the next run resends it."
        ) from exc


def run_url(context: dict) -> str | None:
    ti = context.get("ti") or context.get("task_instance")
    try:
        return ti.log_url if ti is not None else None
    except Exception:  # a URL is a convenience; never fail a message for it
        return None


def failure_message(context: dict) -> dict:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    exception = context.get("exception")
    if exception is None:
        error = "see the task log"
    elif type(exception).__name__ == "AirflowFailException":  # bad input: the message says it all
        error = str(exception)
    else:
        error = f"{type(exception).__name__}: {exception}"
    when = context.get("logical_date")
    when_text = when.isoformat() if isinstance(when, datetime) else str(context.get("run_id", ""))
    task = escape(f"{dag_id}.{task_id}")
    # Escaped inside the code block too: Slack reads `<!channel>` there as well.
    text = f"[CRITICAL] Task failed: {task}: {truncate(escape(error), 300)}"
    blocks = [
        header(f"{EMOJI['critical']} CRITICAL · Task failed: {task_id}"),
        section(
            f"*{task}* failed after its retries (run {escape(when_text)}).\n"
            f"```{truncate(escape(error), 2000)}```"
        ),
        section(
            "*What to do*\n1. Open the task log (link below) and read the error\n"
            "2. If a connection is missing or wrong, fix it under Admin › Connections\n"
            "3. Clear the task to rerun it once fixed; checks are safe to rerun"
        ),
    ]
    url = run_url(context)
    if url:
        blocks.append(context_block(link(url, "Open the task log in Airflow")))
    return {"text": text, "blocks": blocks}


FAILURE_REPEAT = timedelta(hours=4)


def task_failure_callback(context: dict) -> None:
    """on_failure_callback for every task (in default_args): post the failure to slack_alerts.

    The same task failing with the same error every 5 minutes is posted once, then again after
    4 hours (state in nurture_ops.alert_state, key task_failed); when the database cannot be
    reached the failure is posted without that check: a message too many beats a lost one.
    Never raises: the task has failed already, and a callback error must not hide that."""
    from nurture_ops.alerting import state as alert_state
    from nurture_ops.core import db
    from nurture_ops.core.windows import run_time

    message = failure_message(context)
    ti = context.get("ti") or context.get("task_instance")
    scope = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
    tried = []

    def post() -> None:
        tried.append(True)
        send(message, ALERTS_CONN_ID)

    try:
        with db.connect(purpose="write", connect_timeout=5, statement_timeout_ms=10_000) as conn:
            alert_state.ensure_schema(conn)
            if not alert_state.send_unless_repeated(
                conn, "task_failed", scope, message["text"], post, at=run_time(context), repeat=FAILURE_REPEAT
            ):
                log.info("Task failure already posted within %s: %s", FAILURE_REPEAT, message["text"])
        return
    except Exception:
        if tried:  # Slack refused it; the next failure of this task posts again
            log.exception("Could not post the task failure to Slack")
            return
        log.warning("Could not check earlier failure posts (no database?); posting", exc_info=True)
    try:
        post()
    except Exception:
        log.exception("Could not post the task failure to Slack")


def post_report(title: str, sections: list[str], *, summary: str = "", level: str = "low") -> str:
    """Post one [INFO] report (Block Kit sections) from inside a task; returns its text.

    Reports go where warnings go (slack_warnings if configured, else slack_alerts). A Slack
    failure fails the task, which retries; the report is rebuilt from XCom, nothing is lost.
    """
    from airflow.sdk import get_current_context

    context = get_current_context()
    message = info_message(title, sections, run_url=run_url(context), summary=summary, level=level)
    send(message, route("warning"))
    return message["text"]


def post_parts_report(title: str, report, parts: tuple[str, ...], *, level: str = "low", **extra) -> str:
    """Inside a summary task: read each part's XCom (None when its task failed or was skipped) and
    the database probe's result, build the report's sections with `report(parts, database=...,
    **extra)`, and post it (see `post_report`)."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    sections, summary = report(
        {part: ti.xcom_pull(task_ids=part) for part in parts},
        database=ti.xcom_pull(task_ids="probe_database", key="probe"),
        **extra,
    )
    return post_report(title, sections, summary=summary, level=level)
