"""
### Lead nurture — campaign analytics rollup (daily, backfillable)

The runbook's "Analytics Updater" (section 3, *Issue 5: Campaign Analytics Not Updating*), made
rerunnable: `campaign_analytics` for one day, or for a range on a manual backfill.

- **Which day**: by default the day before the run's logical date (UTC), never `CURRENT_DATE`,
  so a rerun or backfill of a past run gives that day's numbers.
- **Catchup is on**: missed days are filled when the scheduler comes back, and
  `airflow backfill create --dag-id nurture_analytics_rollup --from-date 2026-05-01 --to-date
  2026-05-31` works as well.
- **Manual backfill**: *Trigger DAG* with `start_date` and `end_date` (inclusive, date fields in
  the form).
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import dag_settings, utc
from nurture_ops.analytics_rollup import doc_md, plan_days, rollup_campaign_analytics

DATE_PARAM = {"type": ["null", "string"], "format": "date"}
PARAMS = {
    "start_date": Param(
        None, **DATE_PARAM, title="Backfill from (inclusive)", description="Leave empty for the run's own day"
    ),
    "end_date": Param(None, **DATE_PARAM, title="Backfill to (inclusive)", description="At most yesterday"),
}

with DAG(
    "nurture_analytics_rollup",
    schedule="0 1 * * *",
    **dag_settings(
        "Runbook Issue 5: campaign_analytics for yesterday, or a manual backfill range",
        dagrun_timeout=timedelta(hours=6),
        execution_timeout=timedelta(hours=2, minutes=45),
        retries=1,
        retry_delay=timedelta(minutes=15),
        tags=["analytics", "daily"],
        doc_md=doc_md(__doc__, PARAMS),
        params=PARAMS,
        # Missed days are filled when the scheduler comes back (3 days at a time).
        start_date=utc(2026, 11, 1),
        catchup=True,
        max_active_runs=3,
    ),
):
    rollup_campaign_analytics(plan_days())
