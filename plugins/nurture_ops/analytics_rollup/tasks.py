"""Tasks of nurture_analytics_rollup: plan the days (validating a manual backfill's params before
any write), then recompute them one transaction per day with progress in the log."""

from __future__ import annotations

import logging

from airflow.sdk import get_current_context, task

from nurture_ops.core import analytics, db
from nurture_ops.core.errors import rejected_input
from nurture_ops.core.settings import load_backfill_max_days
from nurture_ops.core.windows import previous_day, run_time

log = logging.getLogger(__name__)


@task(task_id="plan_days")
def plan_days() -> list[str]:
    """The days to recompute: the params' inclusive range on a manual backfill, else the day
    before the run's date. Bad params fail here, before anything is written: among them a range
    longer than nurture_ops_backfill_max_days, or starting more than that many days before the
    run's last complete day (a single old day included). Archived days are allowed: the rollup
    reads the archive tables too."""
    context = get_current_context()
    at = run_time(context)
    latest = previous_day(at)
    with rejected_input():
        days = analytics.parse_backfill_range(
            dict(context["params"]), latest_allowed=latest, max_days=load_backfill_max_days()
        )
    if days is None:
        days = [latest]
    log.info("Recomputing %d day(s): %s .. %s", len(days), days[0], days[-1])
    return [d.isoformat() for d in days]


@task(task_id="rollup_campaign_analytics")
def rollup_campaign_analytics(days: list[str]) -> dict:
    """Upsert campaign_analytics for each day (ON CONFLICT (campaign_id, analytics_date)), one
    transaction per day, from the live and archive tables; rerunning a day leaves identical rows."""
    from datetime import date

    def progress(line: str) -> None:  # backfill's "warning: ..." lines (a missing index) as warnings
        (log.warning if line.startswith("warning:") else log.info)(line)

    at = run_time(get_current_context())
    with db.connect(purpose="write", autocommit=True) as conn:
        return analytics.backfill(conn, [date.fromisoformat(d) for d in days], computed_at=at, log=progress)
