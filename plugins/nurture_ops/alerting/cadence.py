"""An alert cadence, whole: its tasks and its docs from one selection of the catalog.

    alert_tasks("15min")             the database probe, then every check group of the cadence
                                     (catalog order, `checks_for`), inhibitions wired; a check
                                     fed by the run's timings (Database Responding Slowly)
                                     measures after the others
    alert_doc_md("15min", intro)     the DAG's doc_md: the intro, then the same checks' tables,
                                     thresholds, runbook actions and inhibitions (core.docs)

A DAG file calls both with the same cadence, so what the Airflow UI documents is what runs.
"""

from __future__ import annotations

from nurture_ops.alerting.groups import (
    CheckGroup,
    check_group,
    escalation_sweep,
    probe_database,
    wire_inhibitions,
)
from nurture_ops.alerting.measure import reads_run_timings
from nurture_ops.core.catalog import checks_for, probe_for
from nurture_ops.core.docs import alert_docs, compose


def alert_tasks(cadence: str, *, also_after_probe: tuple = (), after_checks: tuple = ()) -> list[CheckGroup]:
    """Build the cadence's tasks in the current DAG; `also_after_probe`: other tasks that need the
    database, started once the probe found it reachable; `after_checks`: tasks that report on
    what the checks' fixes change (e.g. the daily digest's active enrollments and analytics), so
    they start once every check group is done (give them trigger_rule ALL_DONE: a failed check
    must not hold them back) and, following the probe, are skipped when the database is down.
    In parallel with the fixes their numbers would depend on which task a worker picked first."""
    probe = probe_database(owns_alert=probe_for(cadence) is not None)
    groups = [check_group(check.key) for check in checks_for(cadence)]
    probe >> [*also_after_probe, *after_checks, *(group.measure for group in groups)]
    for group in groups:
        group.group >> list(after_checks)
    # Database Responding Slowly reads the probe's latency and the other measures' statement
    # timeouts: it measures once they are done (ALL_DONE: also when they failed).
    for group in groups:
        if reads_run_timings(group.check_key):
            [other.measure for other in groups if not reads_run_timings(other.check_key)] >> group.measure
    wire_inhibitions(groups)
    if groups:
        escalation_sweep(groups)  # PagerDuty and slack_escalation (core/escalation.py)
    return groups


def alert_doc_md(cadence: str, intro: str | None, *sections: str) -> str:
    """The doc_md of the cadence's DAG: intro, any DAG-specific sections, then the checks."""
    return compose(intro, *sections, alert_docs(checks_for(cadence), probe=probe_for(cadence)))
