"""
### Lead nurture — weekly review (runbook 7 "Weekly", sections 4 and 6)

Mondays 07:00 UTC, over the 7 days ending at the run's logical date (`[date - 7 days, date)`).
One **[INFO] Weekly review** message: a section per part; what misses a runbook target is
flagged and named in the message text. Rerunning a past run reviews that past week.

#### Weekly checklist (runbook 7)
- [x] Review query performance: `query_performance`, `scheduler_performance`, `sender_performance`
- [x] Export workflow definitions: `export_workflow_definitions`
- [ ] Check SendGrid deliverability stats: by hand, in the SendGrid dashboard
- [x] Review unsubscribe feedback: `unsubscribe_feedback` (per campaign, with reasons)

| Task | Runbook | Flagged when |
|---|---|---|
| `query_performance` | 4 Query Performance Review (`pg_stat_statements`) | mean > 500 ms (5: "Query response time > 500ms consistently") |
| `scheduler_performance` | 4 Scheduler Performance: 1000 enrollments in < 10 s | a minute's batches took > 10 s per 1,000 |
| `sender_performance` | 4 Sender Performance: 100 emails per minute | < LEAST(100, backlog) sent in a minute with emails waiting |
| `export_workflow_definitions` | 6 Workflow Definitions (Weekly) | N8n unreachable: the task fails, the summary says so |

#### Actions (runbook 4 and 5)
- **Slow queries**: add indexes or optimize WHERE clauses. Consistently > 500 ms: *Scale
  Database (Supabase)*: 1. Upgrade Supabase plan 2. Add read replicas for reporting
  3. Implement connection pooling 4. Archive old data (> 1 year)
- **Scheduler > 10 seconds per batch**: 1. Increase batch size 2. Add database read replicas
  3. Optimize personalization queries
- **Sender < 100/minute**: 1. Check SendGrid rate limits 2. Increase N8N_MAX_EMAILS_PER_MINUTE
  3. Optimize tracking pixel/link generation
- **pg_stat_statements missing**: not a failure; the message says how to enable it
  (`shared_preload_libraries`, `CREATE EXTENSION pg_stat_statements`).

#### Workflow definitions backup (runbook 6)
Every N8n workflow (`GET /api/v1/workflows`, all pages, key from the connection `n8n_api`) is
written to `<backup URL>/<YYYY-MM-DD>/workflow-<id>.json` plus `manifest.json`; the message
lists workflows changed, added, removed, (de)activated since the previous export. The backup URL
is the Variable `nurture_ops_workflow_backup_url` (`file:///...`, `s3://conn@bucket/path`,
`gs://...`), default `file://$AIRFLOW_HOME/nurture_ops/workflow-backups`. Exports never
overwrite: a second export on a day goes to `<date>-2`. If the export fails, its failure is
posted to Slack and the weekly summary still goes out, saying so: fix N8n or the connection,
then clear the task. Restoring: N8n > Import from file, one workflow JSON at a time.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import default_args, probe_database, utc
from nurture_ops.weekly_review import (
    export_workflow_definitions,
    query_performance,
    scheduler_performance,
    sender_performance,
    unsubscribe_feedback,
    weekly_summary,
)

with DAG(
    dag_id="nurture_weekly_review",
    description="Runbook weekly review: query, scheduler and sender performance, unsubscribes, workflow backup",
    schedule="0 7 * * 1",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(),
    tags=["nurture", "weekly"],
    doc_md=__doc__,
):
    database_parts = [
        query_performance(),
        scheduler_performance(),
        sender_performance(),
        unsubscribe_feedback(),
    ]
    probe_database(owns_alert=False) >> database_parts
    [*database_parts, export_workflow_definitions()] >> weekly_summary()
