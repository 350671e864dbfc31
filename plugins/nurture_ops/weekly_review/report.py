"""The Slack text of the weekly review. Pure: the parts' result dicts in, mrkdwn sections out.

    weekly_report(parts, week=..., database=..., export_error=...)   -> (sections, summary)

`parts` maps a task id to its XCom (None when the task failed or was skipped); the summary is
the message's one-line text after "[INFO] Weekly review: ", naming every missed target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nurture_ops.core import text
from nurture_ops.core.windows import Window
from nurture_ops.weekly_review.logic import SCHEDULER_ADVICE, SENDER_ADVICE, SLOW_QUERY_ADVICE

TOP_ITEMS = 5


WEEKLY_PARTS = (
    "query_performance",
    "scheduler_performance",
    "sender_performance",
    "unsubscribe_feedback",
    "export_workflow_definitions",
)


# Parts that read the lead-nurture database (held back by probe_database when it is unreachable).
DATABASE_PARTS = frozenset(WEEKLY_PARTS[:4])

# Runbook 7 "Check SendGrid deliverability stats" (weekly_review.deliverability): a database part too.
DELIVERABILITY_PART = "sendgrid_deliverability"

TITLES = {
    "query_performance": "Query performance review",
    "scheduler_performance": "Scheduler performance",
    "sender_performance": "Sender performance",
    "unsubscribe_feedback": "Unsubscribe feedback",
    "export_workflow_definitions": "Workflow definitions backup",
    DELIVERABILITY_PART: "SendGrid deliverability",
}

SPAM_MARK = {"ok": text.OK, "warning": text.WARN, "critical": text.FAILED, "no_data": text.INFO}
KIND_LABEL = {"sent": "sends", "bounced": "bounced sends"}


def deliverability_text(result: dict) -> str:
    """SendGrid's stats against the database, day by day; the discrepancies first, with their cause."""
    title = (
        f"*{TITLES[DELIVERABILITY_PART]}* (runbook 7, weekly; SendGrid Stats API, "
        f"{text.escape(result.get('first_day'))} → {text.escape(result.get('last_day'))})"
    )
    if not result.get("available"):
        return text.fit([title, f"{text.INFO} Not checked: {text.escape(result.get('reason', ''))}"], [])
    tolerance = text.num(result.get("tolerance_percent", 2), 1)
    found = result.get("discrepancies", [])
    if found:
        verdict = (
            f"{text.WARN} {text.plural(len(found), 'discrepancy', 'discrepancies')} past the {tolerance}% tolerance "
            f"on {text.plural(result.get('days_with_gaps', 0), 'day')} of {text.num(result.get('days', 0))}"
        )
    else:
        verdict = (
            f"{text.OK} SendGrid and the database agree within {tolerance}% on every day "
            f"({text.num(result.get('comparisons', 0))} comparisons, largest gap "
            f"{text.num(result.get('gap_percent', 0), 2)}%)"
        )
    spam = result.get("spam") or {}
    rate = spam.get("spam_report_rate")
    spam_line = (
        f"{SPAM_MARK.get(spam.get('status'), text.INFO)} Spam reports: {text.num(spam.get('spam_reports', 0))} of "
        f"{text.num(spam.get('delivered', 0))} delivered = "
        + (f"{text.num(rate, 3)}%" if rate is not None else "n/a")
        + f" (keep &lt; {text.num(spam.get('target'), 1)}%, alert at {text.num(spam.get('alert'), 1)}%: "
        "mailbox providers' bulk-sender limits)"
    )
    items = [
        f"• {text.WARN} {text.escape(d['day'])} {text.escape(KIND_LABEL.get(d['kind'], d['kind'] + ' events'))}: "
        f"database {text.num(d['ours'])} vs SendGrid {text.num(d['sendgrid'])} ({text.escape(d['sendgrid_label'])}), "
        f"{'+' if d['difference'] > 0 else ''}{text.num(d['difference'])} ({text.num(d['gap_percent'], 2)}%). "
        f"Likely cause: {text.escape(d.get('likely_cause', ''))}"
        for d in found
    ]
    return text.fit([title, verdict, spam_line], items)


def query_performance_text(result: dict) -> str:
    """pg_stat_statements: slow statements first; 'not available' with how to enable it is no failure."""
    title = f"*{TITLES['query_performance']}* (pg_stat_statements, slowest mean first)"
    if not result.get("available"):
        return text.fit(
            [
                title,
                f"{text.INFO} Not available: {text.escape(result.get('reason', ''))}. This is not a failure; "
                "the review is blind to slow queries until it is enabled.",
                f"*How to enable:* {text.escape(result.get('how_to_enable', ''))}",
            ],
            [],
        )
    slow_ms = result.get("slow_ms", 500)
    queries = result.get("queries", [])
    slow = result.get("slow_count", 0)
    if slow:
        verdict = (
            f"{text.WARN} {text.plural(slow, 'statement')} over {text.num(slow_ms, 0)} ms mean: the runbook's "
            f'scaling trigger "Query response time &gt; {text.num(slow_ms, 0)}ms consistently"'
        )
    elif queries:
        verdict = f"{text.OK} No statement over {text.num(slow_ms, 0)} ms mean ({text.plural(len(queries), 'statement')} reviewed)"
    else:
        verdict = f"{text.OK} No statement on the runbook's tables recorded yet"
    head = [title, verdict]
    if result.get("spiky_count"):
        head.append(
            f"{text.plural(result['spiky_count'], 'statement')} spiked over {text.num(slow_ms, 0)} ms (max only)"
        )
    items = [
        f"• {text.WARN + ' ' if q.get('slow') else ''}{text.code(q['query'])}: mean {text.num(q['mean_ms'])} ms, "
        f"max {text.num(q['max_ms'])} ms, {text.plural(q['calls'], 'call')}"
        for q in queries[:TOP_ITEMS]
    ]
    tail = []
    if slow:
        tail.append(f"*Runbook:* {SLOW_QUERY_ADVICE}.")
        scaling = result.get("scaling") or {}
        if scaling:
            tail.append(
                f"If it persists, *{text.escape(scaling['section'])}*: {text.numbered(scaling['actions'])}"
            )
    return text.fit(head, items, tail)


def _per_minute_text(result: dict, head: list[str], minute: Callable[[dict], str], runbook: str) -> str:
    """A per-minute measure's section (logic._per_minute): `head`, then its worst minutes (each as
    `minute` words it), then the `runbook` line when a minute missed the target."""
    items = [minute(m) for m in result.get("worst_minutes", [])[:TOP_ITEMS]]
    head = head + (["Worst minutes:"] if items else [])
    tail = [runbook] if result.get("minutes_missing_target", 0) else []
    return text.fit(head, items, tail)


def scheduler_text(result: dict) -> str:
    target = result.get("target", {})
    seconds = text.num(target.get("seconds", 10), 0)
    title = f"*{TITLES['scheduler_performance']}* (target: {text.num(target.get('enrollments', 1000))} enrollments in &lt; {seconds} s per batch)"
    missed = result.get("minutes_missing_target", 0)
    measured = result.get("minutes_measured", 0)
    totals = (
        f"{text.plural(result.get('runs', 0), 'run')} ({text.num(result.get('unmeasured_runs', 0))} without a duration), "
        f"{text.num(result.get('enrollments_processed', 0))} enrollments, "
        f"{text.num(result.get('seconds_per_1000'), 2)} s per 1,000 overall"
    )
    if not result.get("runs"):
        return text.fit(
            [title, f"{text.WARN} No Message Scheduler run recorded this week: nothing to measure"], []
        )
    if missed:
        verdict = (
            f"{text.WARN} {text.plural(missed, 'minute')} of {text.num(measured)} measured missed the target"
        )
    elif not measured:
        verdict = f"{text.WARN} No run recorded a duration (workflow_executions.duration_ms): cannot judge"
    else:
        verdict = f"{text.OK} All {text.plural(measured, 'measured minute')} on target"
    return _per_minute_text(
        result,
        [title, verdict, totals],
        lambda m: (
            f"• {text.WARN + ' ' if m['misses_target'] else ''}{text.minute(m['minute'])}: "
            f"{text.num(m['enrollments_processed'])} enrollments in {text.num(m['duration_seconds'])} s "
            f"(allowed {text.num(m['allowed_seconds'])} s, {text.num(m['seconds_per_1000'], 2)} s per 1,000)"
        ),
        f"*Runbook (&gt; {seconds} s per batch):* {text.numbered(SCHEDULER_ADVICE)}",
    )


def sender_text(result: dict) -> str:
    target = result.get("target_per_minute", 100)
    title = f"*{TITLES['sender_performance']}* (target: {text.num(target)} emails per minute while emails are waiting)"
    missed = result.get("minutes_missing_target", 0)
    judged = result.get("minutes_judged", 0)
    totals = (
        f"{text.num(result.get('emails_sent', 0))} emails sent, peak {text.num(result.get('peak_sent_per_minute', 0))} "
        f"per minute, peak backlog {text.num(result.get('peak_backlog', 0))}"
    )
    if missed:
        verdict = (
            f"{text.WARN} {text.plural(missed, 'minute')} of {text.num(judged)} with a backlog sent fewer than "
            f"LEAST({text.num(target)}, backlog)"
        )
    elif judged:
        verdict = f"{text.OK} All {text.plural(judged, 'minute')} with a backlog on target"
    else:
        verdict = f"{text.OK} No emails were kept waiting: no minute to judge"
    return _per_minute_text(
        result,
        [title, verdict, totals],
        lambda w: (
            f"• {text.WARN + ' ' if w['shortfall'] else ''}{text.minute(w['minute'])}: {text.num(w['sent'])} sent, "
            f"{text.num(w['backlog_at_start'])} waiting (expected {text.num(w['expected'])}, short by {text.num(w['shortfall'])})"
        ),
        f"*Runbook (&lt; {text.num(target)}/minute):* {text.numbered(SENDER_ADVICE)}",
    )


def unsubscribe_text(result: dict) -> str:
    title = f"*{TITLES['unsubscribe_feedback']}*"
    total, group = result.get("unsubscribes", 0), result.get("group_unsubscribes", 0)
    campaigns = sorted(
        result.get("campaigns", []),
        key=lambda c: (-(c["unsubscribes"] + c["group_unsubscribes"]), -(c.get("unsubscribe_rate") or 0)),
    )
    if not campaigns:
        return text.fit([title, f"{text.OK} No unsubscribes this week"], [])
    head = [
        title,
        f"{text.plural(total, 'unsubscribe')} and {text.plural(group, 'group unsubscribe')} in "
        f"{text.plural(len(campaigns), 'campaign')} (worst first)",
    ]
    items = []
    for c in campaigns:
        reasons = ", ".join(
            f"{text.escape(r['reason'])} ({text.num(r['count'])})" for r in c.get("reasons", [])
        )
        if c.get("more_reasons"):
            reasons += f", +{text.num(c['more_reasons'])} more"
        rate = c.get("unsubscribe_rate")
        rate_text = (
            f", {text.num(rate, 2)}% of {text.num(c['emails_sent'])} sent this week"
            if rate is not None
            else ""
        )
        items.append(
            f"• *{text.escape(c['campaign_name'])}*: {text.plural(c['unsubscribes'], 'unsubscribe')} + "
            f"{text.num(c['group_unsubscribes'])} group ({text.plural(c['leads'], 'lead')}{rate_text})"
            + (f" — reasons: {reasons}" if reasons else "")
        )
    return text.fit(head, items)


def export_text(result: dict | None, error: str | None = None) -> str:
    title = f"*{TITLES['export_workflow_definitions']}* (runbook 6, weekly)"
    if result is None:
        lines = [
            title,
            f"{text.FAILED} *Export FAILED*: no workflow definitions were backed up this week.",
        ]
        if error:
            lines.append(f"Error: {text.code(error, 300)}")
        lines.append(
            "The failure was posted to Slack; earlier backups are untouched. Check that N8n runs and "
            "the `n8n_api` connection (host, API key), then clear the task to rerun the export."
        )
        return text.fit(lines, [])
    head = [
        title,
        f"{text.OK} {text.plural(result['workflows'], 'workflow')} ({text.num(result['active'])} active) exported to "
        f"{text.code(result['location'], 300)}",
    ]
    if result.get("first_export"):
        head.append("First export here: nothing to compare with.")
        return text.fit(head, [])
    kinds = ("changed", "added", "removed", "deactivated", "activated")
    counts = ", ".join(f"{text.num(result.get(f'{k}_count', 0))} {k}" for k in kinds)
    head.append(f"Since {text.escape(result.get('previous'))}: {counts}")
    items = []
    for kind in kinds:
        names = result.get(kind) or []
        if names:
            more = result.get(f"{kind}_count", len(names)) - len(names)
            listed = ", ".join(text.escape(n) for n in names) + (
                f" and {text.num(more)} more" if more > 0 else ""
            )
            items.append(f"• {kind.capitalize()}: {listed}")
    return text.fit(head, items)


def _weekly_flags(parts: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(missed targets and problems, fine items) for the summary line."""
    flags, fine = [], []
    query = parts.get("query_performance")
    if query is not None:
        if not query.get("available"):
            fine.append("pg_stat_statements not enabled (query review skipped)")
        elif query.get("slow_count"):
            flags.append(
                f"{text.plural(query['slow_count'], 'slow statement')} over {text.num(query.get('slow_ms', 500), 0)} ms"
            )
        else:
            fine.append(f"no statement over {text.num(query.get('slow_ms', 500), 0)} ms")
    scheduler = parts.get("scheduler_performance")
    if scheduler is not None:
        if scheduler.get("minutes_missing_target"):
            seconds = text.num(scheduler.get("target", {}).get("seconds", 10), 0)
            flags.append(
                f"scheduler over {seconds} s per 1,000 enrollments in "
                f"{text.plural(scheduler['minutes_missing_target'], 'minute')}"
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
                f"sender under {text.num(sender.get('target_per_minute', 100))}/min with a backlog in "
                f"{text.plural(sender['minutes_missing_target'], 'minute')}"
            )
        else:
            fine.append("sender on target")
    unsubscribes = parts.get("unsubscribe_feedback")
    if unsubscribes is not None:
        fine.append(
            f"{text.plural(unsubscribes.get('unsubscribes', 0), 'unsubscribe')} "
            f"(+{text.num(unsubscribes.get('group_unsubscribes', 0))} group)"
        )
    deliverability = parts.get(DELIVERABILITY_PART)
    if deliverability is not None:
        if not deliverability.get("available"):
            # "not configured" is said in its section only: a deployment without it hears it weekly
            if not str(deliverability.get("reason", "")).startswith("not configured"):
                flags.append("SendGrid deliverability not checked (stats API failed)")
        elif deliverability.get("discrepancies"):
            flags.append(
                f"SendGrid stats differ from the database on "
                f"{text.plural(deliverability.get('days_with_gaps', 0), 'day')}"
            )
        else:
            fine.append("SendGrid stats reconciled")
        spam = deliverability.get("spam") or {}
        if spam.get("status") in ("warning", "critical"):
            flags.append(f"spam reports {text.num(spam.get('spam_report_rate'), 3)}% of delivered")
    export = parts.get("export_workflow_definitions")
    if export is None:
        flags.append("workflow export FAILED")
    else:
        kinds = ("changed", "added", "removed", "deactivated", "activated")
        changes = sum(export.get(f"{k}_count", 0) for k in kinds)
        done = "first export" if export.get("first_export") else text.plural(changes, "change")
        fine.append(f"{text.plural(export['workflows'], 'workflow')} exported ({done})")
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
    flags += text.not_reviewed(
        parts, [*WEEKLY_PARTS[:4], *([DELIVERABILITY_PART] if DELIVERABILITY_PART in parts else [])], database
    )
    summary = "; ".join(flags + fine)
    headline = [
        f"*Week* {text.minute(week.start.isoformat())} → {text.minute(week.end.isoformat())} (7 days ending at the run)",
        f"{text.WARN} Needs a look: {text.escape('; '.join(flags))}"
        if flags
        else f"{text.OK} Every runbook target met",
    ]
    renderers = {
        "query_performance": query_performance_text,
        "scheduler_performance": scheduler_text,
        "sender_performance": sender_text,
        "unsubscribe_feedback": unsubscribe_text,
    }
    if DELIVERABILITY_PART in parts:
        renderers[DELIVERABILITY_PART] = deliverability_text
    sections = text.part_sections(
        headline,
        parts,
        renderers,
        titles=TITLES,
        database_parts=DATABASE_PARTS | {DELIVERABILITY_PART},
        database=database,
    )
    sections.append(export_text(parts.get("export_workflow_definitions"), export_error))
    return sections, summary
