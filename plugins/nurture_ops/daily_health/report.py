"""The daily digest: the runbook's morning health check and KPI table in one Slack message.

Runbook section 1: yesterday's volume (failed < 1% of total, average delay < 60 s), active
enrollments (overdue = 0), workflow errors (all 0), per-campaign engagement (open > 30%,
click > 5%, unsubscribe < 0.5%), and the dashboard KPIs with target and alert levels
(thresholds from the catalog's kpi_review check, overridable like any other). Values past an
alert level also page on their own through the kpi_review check; the digest shows everything.
"""

from __future__ import annotations

from nurture_ops.alerting import notify
from nurture_ops.core.catalog import KPI_LABELS, Threshold
from nurture_ops.core.evaluate import threshold_status
from nurture_ops.core.text import escape, fmt, fmt_level

STATUS_MARK = {"ok": "✅ ok", "warning": "⚠️ below target", "critical": "🚨 ALERT", "no_data": "— no data"}


# The health check's own expectations (runbook section 1 comments).
MAX_FAILED_PERCENT = 1.0


MAX_AVG_DELAY_SECONDS = 60


def kpi_rows(kpis: dict, thresholds: tuple[Threshold, ...]) -> list[dict]:
    rows = []
    for t in thresholds:
        value = kpis.get(t.metric)
        rows.append(
            {
                "metric": KPI_LABELS.get(t.metric, t.metric),
                "value": value,
                "target": f"{'>' if t.direction == 'below' else '<'} {fmt_level(t.target)}%",
                "alert": f"{'<' if t.direction == 'below' else '>'} {fmt_level(t.alert)}%",
                "status": threshold_status(t, value, "critical"),
            }
        )
    return rows


def _kpi_table(rows: list[dict]) -> str:
    """A code block, aligned on the raw text, then escaped ("> 95%" would otherwise open a
    `<...>` sequence with a later "<")."""
    lines = [f"{'Metric':<24}{'Value':>8}  {'Target':<8}{'Alert if':<9}Status"]
    for r in rows:
        value = "n/a" if r["value"] is None else f"{fmt(float(r['value']))}%"
        lines.append(
            f"{r['metric']:<24}{value:>8}  {r['target']:<8}{r['alert']:<9}{STATUS_MARK[r['status']]}"
        )
    return "```" + escape("\n".join(lines)) + "```"


BACKUP_MARK = {"ok": "✅", "missing": "⚠️", "not_configured": "ℹ️", "api_failed": "⚠️"}


def backup_line(backups: dict) -> str:
    """Runbook 6 "Database (Daily)": one line, whatever the verdict (integrations.supabase)."""
    return (
        f"{BACKUP_MARK.get(backups.get('state'), '⚠️')} *Database backup*: {escape(backups.get('text') or '')}"
    )


def message(
    digest: dict,
    thresholds: tuple[Threshold, ...],
    *,
    run_url: str | None = None,
    backups: dict | None = None,
) -> dict:
    rows = kpi_rows(digest["kpis"] or {}, thresholds)
    volume = digest["volume"] or {}
    enrollments = digest["enrollments"] or {}
    errors = digest["workflow_errors"] or {}
    engagement = digest["engagement"] or {}
    failed_ok = volume.get("failure_rate") is None or volume["failure_rate"] < MAX_FAILED_PERCENT
    delay_ok = volume.get("avg_delay_seconds") is None or volume["avg_delay_seconds"] < MAX_AVG_DELAY_SECONDS
    health = [
        f"{'✅' if failed_ok and delay_ok else '⚠️'} *Volume*: {fmt(volume.get('emails_sent'))} emails, "
        f"{fmt(volume.get('failed'))} failed ({fmt(volume.get('failure_rate'))}%, expected &lt; {fmt_level(MAX_FAILED_PERCENT)}%), "
        f"average delay {fmt(volume.get('avg_delay_seconds'))} s (expected &lt; {MAX_AVG_DELAY_SECONDS} s)",
        f"{'✅' if not enrollments.get('overdue') else '⚠️'} *Active enrollments*: "
        f"{fmt(enrollments.get('active_enrollments'))}, overdue {fmt(enrollments.get('overdue'))} (expected 0), "
        f"due within the hour {fmt(enrollments.get('due_soon'))}",
        f"{'✅' if not errors.get('error_count') else '⚠️'} *Workflow errors*: {fmt(errors.get('error_count'))} "
        "(expected 0)"
        + "".join(
            f"\n    • {escape(w['workflow_name'])}: {escape(fmt(w['error_count']))}"
            for w in (errors.get("details") or [])[:5]
        ),
        f"{'✅' if not engagement.get('campaigns_below') else '⚠️'} *Campaign engagement*: "
        f"{fmt(engagement.get('campaigns_below'))} of {fmt(engagement.get('campaigns_measured'))} campaigns below the "
        "alert levels",
    ]
    if backups is not None:
        health.append(backup_line(backups))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("critical", "warning", "no_data")}
    summary = (
        f"{len(rows) - sum(counts.values())} of {len(rows)} KPIs on target, "
        f"{counts['warning']} below target, {counts['critical']} past the alert level"
        + (f", {counts['no_data']} without data" if counts["no_data"] else "")
    )
    return notify.info_message(
        f"Daily health digest · {digest['day']}",
        ["*Morning health check*\n" + "\n".join(health), "*KPIs*\n" + _kpi_table(rows)],
        run_url=run_url,
        summary=summary,
    )
