"""
### Lead nurture — daily health check, KPI review and common issues (every morning)

Runbook section 1 (*Daily Operations*), section 2 (*Warning Alerts*) and section 3 (*Common
Issues*), for the day before the run's date (UTC); a rerun or backfill of a past day answers for
that day. Runs at 07:00 UTC, after `nurture_analytics_rollup` (01:00) has written yesterday.

**One digest message** (`daily_digest`): the four morning queries — yesterday's volume (failed
< 1% of total, average delay < 60 s), active enrollments (overdue = 0, due within the hour),
workflow errors (all 0), campaign engagement — and the KPI table with value, target, alert level
and status. Posted once per day. **Separate alerts** only for what crosses an alert level:

| Check | SQL (`include/sql/checks/daily/`) | Alert if | Fix |
|---|---|---|---|
| KPI Past Alert Level (critical) | `measure_kpis.sql` | delivery < 90, open < 20, click < 2, unsubscribe > 1, bounce > 10, scheduler < 95, sender < 95 (%) | — |
| Low Engagement Rate | `measure_low_engagement.sql` | a campaign open < 20% or click < 2% | — |
| High Unsubscribe Rate | `measure_unsubscribe_rate.sql` | > 1% | — |
| Duplicate Email Events (Issue 2) | `measure_duplicate_events.sql` | duplicates the event_hash misses | — |
| High Bounce Rate (Issue 3) | `measure_bounce_rate.sql` | > 5% | invalidate hard-bounced leads (apply) |
| Personalization Data Missing (Issue 4) | `measure_missing_personalization.sql` | any active lead without name/email | — |
| Campaign Analytics Not Updating (Issue 5) | `measure_analytics_freshness.sql` | a day of the last 14 without analytics | recompute the days (apply) |

#### Runbook actions
- **Low Engagement Rate**: review campaign subject lines; check send times; analyze audience
  targeting; review content quality; consider A/B test variants.
- **High Unsubscribe Rate**: review recent campaign content; check frequency caps; verify content
  relevance to audience; review feedback from unsubscribe reasons; adjust campaign strategy.
- **Issue 2, Duplicate Email Events**: duplicates sharing an `event_hash` are deduplication
  working; duplicates that repeat SendGrid's `sg_event_id` under another hash mean the hash is not
  unique enough: update the hash algorithm in the Event Tracker workflow.
- **Issue 3, High Bounce Rate**: check bounce types (hard vs soft); review email validation at
  lead capture; check for spam complaints. Fix: leads with a hard bounce get
  `metadata.email_invalid = true` and their enrollments are completed with `completion_reason =
  'invalid_email'`; soft bounces (SendGrid `blocked`) never invalidate a lead.
- **Issue 4, Personalization Tokens Not Replaced**: check Content Personalizer workflow logs;
  verify lead data exists; check token spelling; fill in missing data or remove from campaigns.
- **Issue 5, Campaign Analytics Not Updating**: check the Analytics Updater workflow is active,
  its last execution and logs. Fix: the missing days are recomputed with the rollup's SQL.

#### Guarded remediation
Data fixes count first, respect a row cap per run (over it: nothing changes and the message says
how to run it by hand), write `nurture_ops.remediation_audit`, then re-check and report in the
alert. Modes per fix (`apply`, `dry_run`, `off`) in the Variable `nurture_ops_remediation`, e.g.
`{"invalidate_hard_bounce_leads": {"mode": "dry_run", "max_rows": 500}}`.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import check_group, default_args, probe_database, utc
from nurture_ops.daily_health import daily_digest_task

CHECKS = [
    "kpi_review",
    "low_engagement_rate",
    "high_unsubscribe_rate",
    "duplicate_email_events",
    "high_bounce_rate",
    "missing_personalization_data",
    "analytics_not_updating",
]

with DAG(
    dag_id="nurture_daily_health",
    description="Runbook morning health check, KPI digest, warning alerts and common-issue fixes",
    schedule="0 7 * * *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(),
    tags=["nurture", "daily"],
    doc_md=__doc__,
):
    probe = probe_database(owns_alert=False)
    groups = [check_group(key) for key in CHECKS]
    probe >> [daily_digest_task(), *[group.measure for group in groups]]
