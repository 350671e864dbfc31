"""The doc_md of nurture_daily_health: the digest's expectations and the KPI table (from this
subpackage's report and the catalog's kpi_review check), then the daily checks' sections."""

from __future__ import annotations

from nurture_ops.core.catalog import get_check
from nurture_ops.core.docs import md_table, section, value_text
from nurture_ops.daily_health.report import MAX_AVG_DELAY_SECONDS, MAX_FAILED_PERCENT, kpi_rows


def digest_section() -> str:
    engagement = get_check("low_engagement_rate").params
    text = (
        "**One digest message** (`daily_digest`, posted once per day: a rerun of the same day does not "
        "post it twice; it runs once every check below is done, so its numbers are those the fixes "
        "left): the four morning queries — yesterday's volume (failed < "
        f"{value_text(MAX_FAILED_PERCENT)}% of total, average delay < {value_text(MAX_AVG_DELAY_SECONDS)} s), "
        "active enrollments (overdue = 0, due within the hour), workflow errors (all 0), campaign "
        f"engagement (campaigns below open {value_text(engagement['open_rate_alert'])}% or click "
        f"{value_text(engagement['click_rate_alert'])}%), the database backup (runbook 6: Supabase's latest "
        "completed backup younger than "
        f'{value_text(get_check("database_backup_missing").params["max_age_hours"])} h, or "not configured") — '
        "and the KPI table with value, target, alert "
        "level and status. **Separate alerts** only for what crosses an alert level (the checks below)."
    )
    return section("Morning health check (runbook 1)", text)


def kpi_section() -> str:
    """Runbook 1 "Review Dashboard Metrics", worded as the digest words it."""
    rows = [(r["metric"], r["target"], r["alert"]) for r in kpi_rows({}, get_check("kpi_review").thresholds)]
    return section(
        "Dashboard KPIs (runbook 1, Review Dashboard Metrics)",
        md_table(("Metric", "Target", "Alert if"), rows),
    )


def sections() -> tuple[str, str]:
    """What the daily DAG documents beyond its checks: the digest and the KPI table."""
    return digest_section(), kpi_section()
