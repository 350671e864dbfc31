"""Shared fixtures: a real PostgreSQL (dev/pg.py), a real HTTP Slack sink, an Airflow home.

Airflow reads its configuration when first imported, so the environment is set here, before
any test module imports airflow.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import itertools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A private Airflow home (SQLite metadata DB) per pytest process, removed at exit: parallel
# sessions never share or reset each other's metadata.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="nurture-airflow-test-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
# Nothing from the developer's shell may leak into tests.
for name in list(os.environ):
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
# SendGrid's status page has a public default (https://status.sendgrid.com): tests never reach the
# internet; by default it is a closed local port ("status unknown"), the fake_sendgrid fixture
# replaces it.
os.environ["AIRFLOW_CONN_SENDGRID_STATUS"] = json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"})

from dev import pg  # noqa: E402
from dev.fake_n8n import FakeN8n, make_workflow  # noqa: E402
from dev.fake_pagerduty import FakePagerDuty  # noqa: E402
from dev.fake_sendgrid import FakeSendGrid  # noqa: E402
from dev.fake_supabase import FakeSupabase  # noqa: E402
from dev.slack_sink import SlackSink  # noqa: E402
from tests.builders import Rows, Seed, Seeded, seed_enrollments, seed_sends  # noqa: E402

# One template per pytest process: parallel sessions on the same server never collide.
TEMPLATE_DB = f"nurture_test_template_{os.getpid()}"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    """The embedded PostgreSQL, started if needed (and then stopped again); yields the admin DSN."""
    was_running = pg.is_running()
    yield pg.start()
    if not was_running:
        pg.stop()


@pytest.fixture(scope="session")
def template_db(pg_server):
    """A database with the lead-nurture schema, cloned (fast) for every test that needs one."""
    import psycopg
    from psycopg import sql

    pg.createdb(TEMPLATE_DB, drop=True)
    yield TEMPLATE_DB
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB)))


@pytest.fixture
def leads_db(template_db, monkeypatch) -> str:
    """A fresh lead-nurture database for one test, wired as the `leads_db` connection."""
    import psycopg
    from psycopg import sql

    name = f"nurture_test_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    monkeypatch.setenv("AIRFLOW_CONN_LEADS_DB", leads_db_connection_json(name))
    yield pg.dsn(name)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def leads_db_connection_json(dbname: str, port: int = pg.PORT) -> str:
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": pg.HOST,
            "port": port,
            "login": pg.SUPERUSER,
            "schema": dbname,
        }
    )


@pytest.fixture
def db(leads_db):
    """An autocommit psycopg connection to the test's lead-nurture database."""
    import psycopg

    with psycopg.connect(leads_db, autocommit=True) as conn:
        yield conn


@pytest.fixture
def slack_sink(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 that records Slack incoming-webhook POSTs."""
    sink = SlackSink(port=0, jsonl_path=tmp_path / "slack.jsonl", quiet=True)
    sink.start()
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", sink.connection_json())
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated (empty) Airflow metadata DB, needed by dag.test()."""
    from airflow.utils import db as airflow_db_utils

    airflow_db_utils.resetdb(skip_init=False)
    return True


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.fixture
def run_dag(dagbag, airflow_db, leads_db, slack_sink):
    """Run a whole DAG with dag.test() for one logical date; returns {task_id: state}.

    Retries are switched off so an injected failure shows at once (the policy tests check that
    the real DAGs keep their retries)."""

    def run(dag_id: str, logical_date, *, run_conf: dict | None = None) -> dict[str, str]:
        dag = dagbag.get_dag(dag_id)
        retries = {task.task_id: task.retries for task in dag.tasks}
        # dag.test(run_conf=...) updates the DAG's and the tasks' params in place: restore them.
        params = copy.deepcopy(dag.params)
        task_params = {task.task_id: copy.deepcopy(task.params) for task in dag.tasks}
        for task in dag.tasks:
            task.retries = 0
        try:
            dag_run = dag.test(logical_date=logical_date, run_conf=run_conf)
        finally:
            dag.params = params
            for task in dag.tasks:
                task.retries = retries[task.task_id]
                task.params = task_params[task.task_id]
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        states["__run__"] = dag_run.state
        return states

    return run


@pytest.fixture
def seed(db) -> Seed:
    return Seed(db)


@pytest.fixture
def rows(db) -> Rows:
    return Rows(db)


@pytest.fixture
def seeded_sends(db) -> Seeded:
    return seed_sends(db, old=23, recent=7)


@pytest.fixture
def seeded_enrollments(db) -> Seeded:
    return seed_enrollments(db, completed_old=17)


@pytest.fixture
def fake_n8n():
    """A FakeN8n on 127.0.0.1 (free port) with 7 workflows; stopped after the test."""
    workflows = [make_workflow(f"w{i}", f"Workflow {i}") for i in range(1, 8)]
    server = FakeN8n(workflows, port=0).start()
    yield server
    server.stop()


@pytest.fixture
def fake_pagerduty(monkeypatch):
    """The PagerDuty Events API v2 stand-in on 127.0.0.1 (free port), wired as `pagerduty_events`."""
    server = FakePagerDuty(port=0).start()
    monkeypatch.setenv("AIRFLOW_CONN_PAGERDUTY_EVENTS", server.connection_json())
    yield server
    server.stop()


@pytest.fixture
def fake_sendgrid(monkeypatch):
    """A FakeSendGrid on 127.0.0.1 (free port): Stats API and status page, wired as the
    `sendgrid_api` and `sendgrid_status` connections; no stats until a test sets them."""
    server = FakeSendGrid(port=0).start()
    monkeypatch.setenv("AIRFLOW_CONN_SENDGRID_API", server.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_SENDGRID_STATUS", server.status_connection_json())
    yield server
    server.stop()


@pytest.fixture
def fake_supabase(monkeypatch):
    """A FakeSupabase on 127.0.0.1 (free port), wired as the `supabase_api` connection; daily
    backups relative to the request's time until a test sets `backups`."""
    server = FakeSupabase(port=0).start()
    monkeypatch.setenv("AIRFLOW_CONN_SUPABASE_API", server.connection_json())
    yield server
    server.stop()


@contextlib.contextmanager
def forgetting_runs(dag_id: str):
    """Delete the DagRuns of `dag_id` created inside the block, so tests that expect one run of the
    DAG in the (session-wide) Airflow metadata DB still find one."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    before = {r.id for r in DagRun.find(dag_id=dag_id)}
    try:
        yield
    finally:
        with create_session() as session:
            for run in session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.id.not_in(before)):
                session.delete(run)


@contextlib.contextmanager
def without_param(dag, name: str):
    """The DAG (and its tasks) without the Param `name`, so a run_conf value reaches the tasks
    unchecked, as when a task runs without the DAG's Param schema; restored afterwards."""
    saved = copy.deepcopy(dag.params), {t.task_id: copy.deepcopy(t.params) for t in dag.tasks}
    try:
        for params in [dag.params, *(t.params for t in dag.tasks)]:
            if name in params:
                del params[name]
        yield dag
    finally:
        dag.params = saved[0]
        for task in dag.tasks:
            task.params = saved[1][task.task_id]
