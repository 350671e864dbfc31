"""
### Lead nurture — campaign analytics rollup (daily, backfillable)

Runbook section 3, *Issue 5: Campaign Analytics Not Updating* — the "Analytics Updater" SQL, made
rerunnable: `include/sql/analytics/upsert_campaign_analytics.sql` computes, per organization and
campaign, one day's emails sent, delivered / failed / bounced, unique opens and clicks,
unsubscribes, and the delivery, open, click, unsubscribe and bounce rates the KPI table needs,
and upserts them `ON CONFLICT (campaign_id, analytics_date) DO UPDATE`.

- **Which day**: by default the day before the run's logical date (UTC) — never `CURRENT_DATE`, so
  a rerun or backfill of a past run gives that day's numbers. Days without sends write no rows.
  Running a day twice leaves identical rows.
- **Catchup is on**: missed days are filled when the scheduler comes back, and
  `airflow backfill create --dag-id nurture_analytics_rollup --from-date 2026-05-01 --to-date
  2026-05-31` works as well.
- **Manual backfill**: *Trigger DAG* with `start_date` and `end_date` (inclusive, date fields in the
  form). Every day of the range is recomputed, one transaction per day, with progress
  (`day 3/10: 2026-05-03, 12 campaign rows`) in the task log. Rejected before any write, with a
  message that says what is wrong: a malformed date, only one of the two, a reversed range, a range
  reaching today or later, more than 400 days (Variable `nurture_ops_backfill_max_days`).

#### Runbook actions (if analytics stop updating)
1. Check Analytics Updater workflow is active
2. Check last execution time
3. Review workflow logs
4. Recompute: trigger this DAG with the missing range (the daily health DAG also fills gaps of
   the last 14 days by itself)
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import default_args, utc
from nurture_ops.analytics_rollup import plan_days, rollup_campaign_analytics

DATE_PARAM = {"type": ["null", "string"], "format": "date"}

with DAG(
    dag_id="nurture_analytics_rollup",
    description="Runbook Issue 5: campaign_analytics for yesterday, or a manual backfill range",
    schedule="0 1 * * *",
    start_date=utc(2026, 11, 1),
    catchup=True,
    max_active_runs=3,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(),
    tags=["nurture", "analytics", "daily"],
    doc_md=__doc__,
    params={
        "start_date": Param(
            None,
            **DATE_PARAM,
            title="Backfill from (inclusive)",
            description="Leave empty for the run's own day",
        ),
        "end_date": Param(
            None, **DATE_PARAM, title="Backfill to (inclusive)", description="At most yesterday"
        ),
    },
):
    rollup_campaign_analytics(plan_days())
