"""The daily digest runs after every check group (their fixes change what it counts: active
enrollments, analytics days), whatever the checks ended in, and only when the database answered.

Run in parallel with the fixes, its numbers depended on which task a worker picked first: the
Celery test (tests/e2e/test_celery_executor.py) found the digest differing from dag.test()'s."""

from __future__ import annotations

from nurture_ops.core.catalog import checks_for


def test_the_digest_follows_every_check_group_and_the_probe(dagbag):
    dag = dagbag.get_dag("nurture_daily_health")
    digest = dag.get_task("daily_digest")
    before = digest.get_flat_relative_ids(upstream=True)
    for check in checks_for("daily"):
        group_tasks = {t.task_id for t in dag.tasks if t.task_id.startswith(f"{check.key}.")}
        assert group_tasks and group_tasks <= before, check.key
    # A direct downstream of the probe's branch: skipped with the checks when the database is down.
    assert "probe_database" in digest.upstream_task_ids
    assert digest.trigger_rule == "all_done"  # a failed check does not hold the digest back
