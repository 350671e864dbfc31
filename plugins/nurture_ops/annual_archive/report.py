"""The Slack text of the annual archive. Pure: the archive's result dict in, mrkdwn sections out."""

from __future__ import annotations

from datetime import date

from nurture_ops.core.text import (
    FAILED,
    INFO,
    OK,
    WARN,
    escape,
    fit,
    minute,
    num,
    plural,
    reminders_text,
    seconds,
)

ANNUAL_CHECKLIST_BY_HAND = (
    "Comprehensive security audit",
    "Review and renew SendGrid plan",
    "Team training on system operations",
)


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
        f"{plural(result['batches'], 'batch', 'batches')}, {seconds(result.get('seconds'))}",
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
