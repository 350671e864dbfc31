"""The doc_md of nurture_analytics_rollup: the rollup's SQL, the backfill limits and the runbook's
actions for Issue 5, from core.analytics, core.settings and the catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nurture_ops.core.analytics import DEFAULT_MAX_BACKFILL_DAYS, UPSERT_SQL
from nurture_ops.core.catalog import REMEDIATIONS, get_check
from nurture_ops.core.docs import bullets, code, compose, numbered, params_table, section, value_text
from nurture_ops.core.settings import MAX_DAYS_VARIABLE


def rollup_section() -> str:
    return section(
        "What it computes (runbook 3, Issue 5: the Analytics Updater SQL)",
        f"`include/sql/{UPSERT_SQL}` computes, per organization and campaign, one day's emails sent, "
        "delivered / failed / bounced, unique opens and clicks, unsubscribes, and the delivery, open, "
        "click, unsubscribe and bounce rates the KPI table needs, and upserts them "
        "`ON CONFLICT (campaign_id, analytics_date) DO UPDATE`. Days without sends write no rows; "
        "running a day twice leaves identical rows.",
    )


def backfill_section(params: Mapping[str, Any]) -> str:
    limits = bullets(
        [
            "Every day of the range is recomputed, one transaction per day, with progress "
            "(`day 3/10: 2026-05-03, 12 campaign rows`) in the task log.",
            "Rejected before any write, with a message that says what is wrong: a malformed date, only "
            "one of the two, a reversed range, a range reaching today or later, more than "
            f"{value_text(DEFAULT_MAX_BACKFILL_DAYS)} days (the Variable {code(MAX_DAYS_VARIABLE)} "
            "changes that limit).",
        ]
    )
    return section("Manual backfill: params", params_table(params), limits)


def actions_section() -> str:
    check = get_check("analytics_not_updating")
    fix = REMEDIATIONS[check.remediation]
    steps = [
        *check.actions,
        "By hand: trigger this DAG with the missing range (the daily health DAG fills gaps of "
        f"the last {value_text(check.params['lookback_days'])} days by itself: {fix.title.lower()}, "
        f"**{fix.default_mode}** by default, at most {value_text(fix.max_rows)} days per run)",
    ]
    return section(
        f"Runbook actions (if analytics stop updating: {check.title})",
        f"*Runbook {check.runbook_section}*",
        numbered(steps),
    )


def doc_md(intro: str | None, params: Mapping[str, Any]) -> str:
    """The DAG's docs; `params` are the DAG's own trigger params."""
    return compose(intro, rollup_section(), backfill_section(params), actions_section())
