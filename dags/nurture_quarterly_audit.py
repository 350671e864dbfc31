"""
### Lead nurture — quarterly audit (runbook 7 "Quarterly", sections 5 and 6)

08:00 UTC on the 1st of January, April, July and October, over the 3 months ending at the run's
logical date. One **[INFO] Quarterly audit** message; its text starts with **ATTENTION** when
something needs action before the next audit: a table, column, index or constraint missing, a
capacity limit at >= 80 % or reached within 90 days, no workflow export in the last 8 days, or a
part that could not be reviewed.

#### Quarterly checklist (runbook 7)
- [x] Full system performance audit / Review capacity and scaling needs: `capacity_review`
- [x] Test disaster recovery procedures (readiness): `schema_readiness`, `recovery_readiness`
- [ ] Update dependencies (N8n, libraries): by hand
- [ ] Review and optimize campaign strategy: by hand

#### Capacity (runbook 5 "Current Capacity")
Leads: up to 100,000 active enrollments · Emails: up to 100,000 per day · Organizations: up to
100. For each: current level, percent of the limit, growth from the quarter's first week to its
last, projected date the limit is reached at that rate, and the scaling that applies:

- **Scale Database (Supabase)** (trigger: query response time > 500ms consistently):
  1. Upgrade Supabase plan (more resources) 2. Add read replicas for reporting
  3. Implement connection pooling 4. Archive old data (> 1 year)
- **Scale N8n** (trigger: workflow execution queue > 100 items): 1. Upgrade to N8n Pro
  2. Deploy multiple N8n instances 3. Use queue mode for workflows 4. Implement workflow-specific scaling
- **Scale SendGrid** (trigger: hitting rate limits or want to send > 100K/day): 1. Upgrade
  SendGrid plan 2. Implement multiple API keys 3. Load balance across keys 4. Consider dedicated IP addresses

#### Disaster recovery readiness (runbook 6)
- *Restore Database*: "Verify all tables present", "Run schema validation queries":
  `schema_readiness` compares every table, column, index and constraint of
  `include/sql/schema/*.sql` with the database. Recreate what is missing from those files.
- *Restore N8n*: "Import workflow definitions": `recovery_readiness` checks the last complete
  export under the Variable `nurture_ops_workflow_backup_url` (default
  `file://$AIRFLOW_HOME/nurture_ops/workflow-backups`) is at most 8 days old; if not, look at
  `nurture_weekly_review.export_workflow_definitions` and the `n8n_api` connection.
"""

from datetime import timedelta

from airflow.sdk import DAG

from nurture_ops.alerting import default_args, probe_database, utc
from nurture_ops.quarterly_audit import audit_summary, capacity_review, recovery_readiness, schema_readiness

with DAG(
    dag_id="nurture_quarterly_audit",
    description="Runbook quarterly audit: capacity and scaling needs, schema and recovery readiness",
    schedule="0 8 1 1,4,7,10 *",
    start_date=utc(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(),
    tags=["nurture", "quarterly"],
    doc_md=__doc__,
):
    database_parts = [capacity_review(), schema_readiness()]
    probe_database(owns_alert=False) >> database_parts
    [*database_parts, recovery_readiness()] >> audit_summary()
