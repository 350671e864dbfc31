"""
### Lead nurture — monthly maintenance (runbook 7 "Monthly", section 4 "Index Maintenance (Monthly)")

03:00 UTC on the 1st of each month. Everything is online: the sending system keeps reading and
writing throughout. One **[INFO] Monthly maintenance** message at the end; its text starts with
**ATTENTION** when something was not done. The checklist, tables, silenced alerts and limits
below are generated from this DAG's configuration and the maintenance's own constants.
"""

from datetime import timedelta

from airflow.sdk import DAG, Param

from nurture_ops.alerting import dag_settings
from nurture_ops.monthly_maintenance import (
    analyze_tables,
    cleanup_completed_enrollments,
    doc_md,
    invalid_indexes,
    lift_silences,
    monthly_summary,
    reindex_tables,
    review_slow_workflows,
    silence_alerts,
)

# The alerts the maintenance's own load could trip (slower sends, a scheduler held up).
SILENCED_ALERTS = ["overdue_enrollments", "emails_stuck_queued"]
# Runbook 4 "Index Maintenance (Monthly)": the tables to rebuild and analyze, in this order.
TABLES = ["lead_campaign_enrollments", "email_sends", "email_events"]

with DAG(
    "nurture_monthly_maintenance",
    schedule="0 3 1 * *",
    **dag_settings(
        "Runbook monthly: online reindex + analyze, cleanup of completed enrollments, workflow errors",
        dagrun_timeout=timedelta(hours=6),
        execution_timeout=timedelta(hours=2, minutes=45),
        retries=1,
        retry_delay=timedelta(minutes=15),
        tags=["monthly", "maintenance"],
        doc_md=doc_md(__doc__, tables=TABLES, silenced=SILENCED_ALERTS),
        # One maintenance operation at a time: the least extra load on the sending system.
        max_active_tasks=1,
        params={
            "dry_run": Param(
                False,
                type="boolean",
                title="Dry run",
                description="Cleanup of completed enrollments: count what would be archived or deleted, change nothing",
            )
        },
    ),
):
    silence = silence_alerts(SILENCED_ALERTS).as_setup()
    reindexed = reindex_tables(TABLES)
    analyzed = analyze_tables(TABLES)
    cleanup = cleanup_completed_enrollments()
    workflows = review_slow_workflows()
    silence >> [reindexed, cleanup, workflows]
    reindexed >> invalid_indexes() >> analyzed

    lifted = lift_silences(silence).as_teardown(setups=silence)
    [analyzed, cleanup, workflows] >> lifted
    # After the teardown, so it can say when the silences ended; the work tasks stay the run's
    # leaves for its state (a failed cleanup fails the run, the summary notwithstanding).
    lifted >> monthly_summary()
