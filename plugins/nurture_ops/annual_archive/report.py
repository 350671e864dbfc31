"""The Slack text of the annual archive. Pure: the archive's result dict in, mrkdwn sections out."""

from __future__ import annotations

from datetime import date

from nurture_ops.core import text

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
        '*Archive old data (&gt; 1 year)* (runbook 7 "Annually")',
        f"Sends created before {text.minute(result['cutoff'])} and all their events → `email_sends_archive`, "
        f"`email_events_archive`; batches of {text.num(result['batch_size'])} (run {text.escape(result['run_id'])})",
    ]
    if result.get("dry_run"):
        batches = -(-sends["would_move"] // result["batch_size"])
        lines = [
            f"{text.INFO} DRY RUN: nothing changed. Would move {text.plural(sends['would_move'], 'send')} and "
            f"{text.plural(events['would_move'], 'event')} in about {text.plural(batches, 'batch', 'batches')}.",
            f"Already archived: {text.num(sends['archived_before'])} sends, {text.num(events['archived_before'])} events.",
            "To archive: trigger the DAG again with the same cutoff_date and dry_run off.",
        ]
        summary = (
            f"would archive {text.plural(sends['would_move'], 'send')} and "
            f"{text.plural(events['would_move'], 'event')} created before {cutoff}; nothing changed"
        )
        return [text.fit(head + lines, [])], summary
    lines = [
        f"{text.OK} Moved {text.plural(sends['moved'], 'send')} and {text.plural(events['moved'], 'event')} in "
        f"{text.plural(result['batches'], 'batch', 'batches')}, {text.seconds(result.get('seconds'))}",
        f"• email_sends (created before the cutoff): live {text.num(sends['live_before'])} → "
        f"{text.num(sends['live_after'])}, archived {text.num(sends['archived_before'])} → {text.num(sends['archived_after'])}",
        f"• email_events (of those sends): live {text.num(events['live_before'])} → {text.num(events['live_after'])}, "
        f"archived {text.num(events['archived_before'])} → {text.num(events['archived_after'])}",
        f"{text.OK} Reconciled: live before = live after + moved, archived after = archived before + moved"
        if result.get("reconciled")
        else f"{text.FAILED} Not reconciled",
    ]
    if events.get("arrived_during_run"):
        lines.append(
            f"{text.INFO} {text.num(events['arrived_during_run'])} events arrived on old sends during the run and "
            "were moved with them."
        )
    if result.get("lock_retries"):
        lines.append(
            f"{text.INFO} {text.plural(result['lock_retries'], 'lock timeout')}: a batch waited too long on a "
            "lock held by another session, was rolled back and tried again (nothing lost, nothing doubled)."
        )
    if result.get("left_locked"):
        lines.append(
            f"{text.WARN} {text.num(result['left_locked'])} old sends were locked by other sessions and left live: "
            "trigger the DAG again to move them."
        )
    summary = (
        f"{text.plural(sends['moved'], 'send')} and {text.plural(events['moved'], 'event')} created before "
        f"{cutoff} archived, reconciled"
        + (
            f"; {text.num(result['left_locked'])} left live (locked), rerun"
            if result.get("left_locked")
            else ""
        )
    )
    return [text.fit(head + lines, []), text.reminders_text(ANNUAL_CHECKLIST_BY_HAND, "Annually")], summary
