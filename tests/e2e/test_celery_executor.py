"""nurture_alerts_15min and nurture_daily_health under the CeleryExecutor, two workers, as
`make run EXECUTOR=celery` starts them (the `celery_stack` fixture; `make test-celery`).

The proof that no task depends on another's local disk: each worker has its own working directory
and TMPDIR, tasks of one run execute on both workers (the task instances' `hostname` in the REST
API), and the Slack messages are the same as those of dag.test() (one process) on the same seeded
data. The reference is produced here by dag.test() (the `run_dag` fixture), not written down.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from dev import pg
from dev import seed as demo_seed
from dev.celery_stack import WORKERS

pytestmark = [pytest.mark.e2e, pytest.mark.scheduler, pytest.mark.celery]

NOW = datetime(2026, 11, 29, 14, 37, tzinfo=UTC)  # the seed's "now": every check has something to say
DAGS = ("nurture_alerts_15min", "nurture_daily_health")  # in this order, each once, for NOW
RUN_TIMEOUT = 240.0


def reseed(leads_db: str, template_db: str) -> None:
    """The leads database afresh from the schema template, seeded with the demo data at NOW."""
    name = psycopg.conninfo.conninfo_to_dict(leads_db)["dbname"]
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    with psycopg.connect(leads_db) as conn:
        demo_seed.seed(conn, seed=42, now=NOW)


# "Open this run in Airflow": the api-server's address and the run id differ between the two runs
# (dag.test() makes its own run); the DAG and task it points at must not.
RUN_LINK = re.compile(r"<https?://[^/|>]+/dags/([^/]+)/runs/[^/]+/tasks/([^?|>]+)\?try_number=\d+\|")


def messages(sink) -> list[str]:
    """Every payload (text and blocks), order-free: parallel check groups post in any order."""
    return sorted(
        RUN_LINK.sub(r"<RUN_LINK/dags/\1/tasks/\2|", json.dumps(payload, sort_keys=True))
        for payload in sink.payloads()
    )


def test_celery_runs_tasks_on_both_workers_and_says_what_dag_test_says(
    celery_stack, run_dag, leads_db, template_db, slack_sink
):
    reseed(leads_db, template_db)
    for dag_id in DAGS:
        states = run_dag(dag_id, NOW)
        assert states["__run__"] == "success", states
    expected = messages(slack_sink)
    assert len(expected) >= 5, expected  # the seeded anomalies page: a comparison of nothing proves nothing
    assert all("RUN_LINK/dags/" in message for message in expected), expected[0]

    reseed(leads_db, template_db)
    slack_sink.clear()
    api = celery_stack.api
    for dag_id in DAGS:
        api.unpause(dag_id)
        run, seconds = api.trigger_and_wait(dag_id, NOW, RUN_TIMEOUT)
        assert run["state"] == "success", (
            f"{dag_id}: {run['state']}; task logs in {celery_stack.task_log_dir}"
        )
        ran = [ti for ti in api.task_instances(dag_id, run["dag_run_id"]) if ti["state"] == "success"]
        # Skipped branches and EmptyOperators never reach a worker; everything else ran on one.
        ran = [ti for ti in ran if ti["hostname"]]
        hosts = {ti["hostname"] for ti in ran}
        assert hosts == set(WORKERS), (
            dag_id,
            {ti["task_id"]: ti["hostname"] for ti in ran},
        )
        print(
            f"\n  {dag_id} under Celery: {len(ran)} tasks on {sorted(hosts)}, trigger to success {seconds:.0f} s"
        )

    assert messages(slack_sink) == expected
