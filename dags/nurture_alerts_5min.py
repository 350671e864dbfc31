"""
### Lead nurture — critical alerts, every 5 minutes

Runbook section 2, *Monitoring & Alerts › Critical Alerts*. Each run evaluates the five minutes
that end at the run's logical date, so clearing a past run re-evaluates that past window.

| Check | SQL | Alert if |
|---|---|---|
| Database Connection Lost | connect + `SELECT 1`, 5 s timeout | unreachable (error class: auth, refused, timeout, ...) |
| High Email Failure Rate | `include/sql/checks/alerts_5min/measure_email_failure_rate.sql` | failure_rate > 10% |

Thresholds: `nurture_ops/catalog.py`, overridable in the Variable `nurture_ops_thresholds`.
Slack gets one message when an alert starts, a reminder every 4 h while it fires, and one
`[RESOLVED]` when it clears (state in `nurture_ops.alert_state`). While the database is
unreachable every other check is held back and only *Database Connection Lost* is sent.

#### Database Connection Lost — runbook actions
1. Check Supabase status
2. Verify database credentials haven't changed
3. Test connection from N8n credentials page
4. Check database connection pool not exhausted
5. Restart N8n to reset connections

#### High Email Failure Rate — runbook actions
1. Check SendGrid API status: https://status.sendgrid.com
2. Verify API key hasn't been revoked
3. Check rate limits haven't been exceeded
4. Review error logs in Email Sender workflow
5. If SendGrid is down, pause sender workflow temporarily

The last step can be automated: remediation `pause_sender_workflow` deactivates
"Lead Nurture - Email Sender" through the N8n API (connection `n8n_api`). It is **off** by
default; set `{"pause_sender_workflow": "dry_run"}` or `"apply"` in the Variable
`nurture_ops_remediation`. Every attempt is audited in `nurture_ops.remediation_audit`.

#### Silencing
`INSERT INTO nurture_ops.alert_silences (alert_key, starts_at, ends_at, reason)
VALUES ('high_email_failure_rate', now(), now() + interval '2 hours', 'SendGrid incident #123');`
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import check_group, default_args, probe_database, utc

with DAG(
    dag_id="nurture_alerts_5min",
    description="Runbook critical alerts every 5 minutes: database reachable, email failure rate",
    schedule="*/5 * * * *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=20)),
    tags=["nurture", "alerts"],
    doc_md=__doc__,
):
    probe = probe_database(owns_alert=True)
    failure_rate = check_group("high_email_failure_rate")
    probe >> failure_rate.measure
