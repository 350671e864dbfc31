"""Tasks of nurture_quarterly_audit (runbook 7 "Quarterly", sections 5 and 6): one per part, then
the summary, which posts one [INFO] "Quarterly audit" message whatever failed upstream.

Every part looks at the 3 months ending at the run's logical date (`core.windows.quarter_window`).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, get_current_context, task

from nurture_ops.alerting.notify import post_parts_report
from nurture_ops.core import db
from nurture_ops.core.settings import load_backup_url
from nurture_ops.core.windows import Window, quarter_window, run_time
from nurture_ops.integrations.workflow_backups import complete_export_labels, export_recency
from nurture_ops.quarterly_audit import capacity, schema
from nurture_ops.quarterly_audit.report import QUARTERLY_PARTS, quarterly_report


def _quarter() -> Window:
    return quarter_window(run_time(get_current_context()))


@task
def capacity_review() -> dict:
    """Runbook 5 "Current Capacity": level, growth and projected date for each limit."""
    quarter = _quarter()
    with db.connect(purpose="read") as conn:
        return capacity.capacity_review(conn, as_of=quarter.end, quarter_start=quarter.start)


@task
def schema_readiness() -> dict:
    """Runbook 6 "Verify all tables present", "Run schema validation queries"."""
    with db.connect(purpose="read") as conn:
        return schema.schema_readiness(conn)


@task
def recovery_readiness() -> dict:
    """Runbook 6 "Import workflow definitions": is the last workflow export recent?"""
    url = load_backup_url()
    return export_recency(complete_export_labels(url), run_time(get_current_context()), location=url)


@task(trigger_rule=TriggerRule.ALL_DONE)
def audit_summary() -> str:
    """One [INFO] "Quarterly audit" message, whatever failed upstream."""
    return post_parts_report("Quarterly audit", quarterly_report, QUARTERLY_PARTS, quarter=_quarter())
