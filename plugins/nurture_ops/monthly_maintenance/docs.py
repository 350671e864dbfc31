"""The doc_md of nurture_monthly_maintenance: the monthly checklist (with the items left by hand
from report.py), the tables and silenced alerts the DAG passes its tasks, and the constants the
tasks use (lock timeout and attempts, cleanup age, silence length, the Variable's defaults)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nurture_ops.core.catalog import get_check
from nurture_ops.core.docs import checklist, code, compose, section, value_text
from nurture_ops.core.settings import MAINTENANCE_VARIABLE, parse_maintenance_settings
from nurture_ops.monthly_maintenance.cleanup import MIN_CLEANUP_AGE_DAYS
from nurture_ops.monthly_maintenance.report import MONTHLY_CHECKLIST_BY_HAND
from nurture_ops.monthly_maintenance.tasks import ATTEMPTS, SILENCE_HOURS

WORKFLOW_ERRORS_SQL = "maintenance/review_workflow_errors.sql"


def _defaults() -> dict:
    return parse_maintenance_settings(None).model_dump()  # the Variable unset: its defaults


def checklist_section() -> str:
    done = (
        ("Rebuild database indexes", "`reindex_tables`, `invalid_indexes`, `analyze_tables`"),
        ("Review and optimize slow workflows", "`review_slow_workflows`"),
        (f"Clean up completed enrollments > {MIN_CLEANUP_AGE_DAYS} days", "`cleanup_completed_enrollments`"),
    )
    return section(
        "Monthly checklist (runbook 7)",
        checklist(done, MONTHLY_CHECKLIST_BY_HAND, by_hand_note=" (the summary reminds you)"),
    )


def index_section(tables: Sequence[str]) -> str:
    lock_timeout_s = _defaults()["lock_timeout_ms"] / 1000
    rebuild = " ".join(f"REINDEX TABLE {t};" for t in tables)
    return section(
        "Index Maintenance (Monthly) (runbook 4)",
        f'The runbook\'s `{rebuild}` ("Rebuild indexes") then `ANALYZE` of the same tables ("Update '
        'statistics"), in this order: ' + ", ".join(code(t) for t in tables) + ".",
        "A plain REINDEX blocks every write for the whole rebuild, so here each table gets `REINDEX TABLE "
        "CONCURRENTLY`, one at a time, on an autocommit connection with a `lock_timeout` "
        f"({value_text(lock_timeout_s)} s by default; tried up to {ATTEMPTS} times, then reported while the "
        "other tables go on; a table left unrebuilt fails `reindex_tables` once all were tried, and the "
        "steps after it wait for it to be cleared). A failed concurrent rebuild leaves INVALID `*_ccnew` "
        "indexes: those of the failed attempt are dropped at once; older ones are listed by "
        "`invalid_indexes` and dropped (`DROP INDEX CONCURRENTLY`) only when the Variable "
        f'{code(MAINTENANCE_VARIABLE)} says `{{"drop_invalid_indexes": true}}`.',
    )


def cleanup_section() -> str:
    return section(
        f"Clean up completed enrollments > {MIN_CLEANUP_AGE_DAYS} days",
        f"Enrollments with status `completed` and `completed_at` more than {MIN_CLEANUP_AGE_DAYS} days "
        "before the run are moved in batches (one transaction each, `FOR UPDATE SKIP LOCKED`) to "
        '`lead_campaign_enrollments_archive`, or deleted with `{"cleanup_mode": "delete"}`. Totals are '
        "reconciled (live + archived = before); a crash leaves whole batches moved, and clearing the "
        "task continues where it stopped.",
    )


def workflows_section() -> str:
    return section(
        "Review and optimize slow workflows",
        "Errors per workflow (`workflow_errors`) in the month ending at the run, against the month "
        "before (trend up / down / new), with the month's executions and their mean / max `duration_ms` "
        f"(`include/sql/{WORKFLOW_ERRORS_SQL}`). Rising errors: open the workflow's execution history "
        "in N8n and look at the failing node, then at its slowest steps.",
    )


def silences_section(silenced: Sequence[str]) -> str:
    alerts = ", ".join(f"*{get_check(k).title}* ({code(k)})" for k in silenced)
    return section(
        "Alerts during the maintenance",
        f"`silence_alerts` (setup) silences the alerts this load can trip: {alerts}, from the run's "
        f'time for {SILENCE_HOURS} hours, reason "monthly maintenance <run_id>"; `lift_silences` '
        "(teardown) ends them when the work is done, even when a task failed. An alert still firing "
        "afterwards is announced by its own DAG as usual. Clearing a failed task re-runs both around it "
        "(Airflow clears a task's setup and teardown with it), so a rerun is silenced too.",
    )


def variable_section() -> str:
    return section(
        f"Variable {code(MAINTENANCE_VARIABLE)} (JSON, optional, read when the tasks run)",
        f"The defaults: {code(json.dumps(_defaults()))}. A bad value fails the task that reads it, with a "
        "message naming the key; the silences are lifted all the same.",
    )


def doc_md(intro: str | None, *, tables: Sequence[str], silenced: Sequence[str]) -> str:
    """The DAG's docs, for the tables it rebuilds and the alerts it silences (its own config)."""
    return compose(
        intro,
        checklist_section(),
        index_section(tables),
        cleanup_section(),
        workflows_section(),
        silences_section(silenced),
        variable_section(),
    )
