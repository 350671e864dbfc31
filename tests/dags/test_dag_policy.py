"""Every DAG of the package: loads, follows the house policy, does nothing at parse time."""

from __future__ import annotations

import inspect
import time
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from nurture_ops.alerting.defaults import (
    ALLOWED_TAGS,
    MAX_STATEMENT_TIMEOUT,
    OWNER,
    Budget,
    dag_settings,
    statement_timeout_for,
)
from nurture_ops.core import db

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p.stem for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


def test_dag_files_exist():
    assert "nurture_alerts_5min" in DAG_FILES


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_one_dag_per_file_named_as_the_file(dagbag, dag_id):
    assert dag_id in dagbag.dags, f"dags/{dag_id}.py must define the DAG {dag_id}"
    assert Path(dagbag.dags[dag_id].fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_dag_policy(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.tags and set(dag.tags) <= ALLOWED_TAGS, dag.tags
    assert "nurture" in dag.tags
    assert dag.doc_md and "runbook" in dag.doc_md.lower()
    assert "\n#### " in dag.doc_md, "doc_md: the prose intro, then the sections generated from the catalog"
    assert isinstance(dag.start_date, datetime) and dag.start_date.tzinfo is not None
    assert dag.catchup in (True, False)
    assert dag.max_active_runs >= 1
    for task in dag.tasks:
        assert task.owner == OWNER, task.task_id
        assert task.retries >= 1, task.task_id
        assert task.on_failure_callback, f"{dag_id}.{task.task_id} has no failure callback"


def _worst_case(task) -> timedelta:
    """Every try of the task to its execution_timeout, every retry delay in between."""
    return (task.retries + 1) * task.execution_timeout + task.retries * task.retry_delay


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_every_task_ends_before_its_run_times_out(dagbag, dag_id):
    """A run that reaches dagrun_timeout skips its unfinished tasks with no callback: nobody is
    paged. So every task has an execution_timeout, and all its tries with the delays between them
    fit in the run's timeout; a try that runs out fails the task, and its failure callback posts."""
    dag = dagbag.get_dag(dag_id)
    assert dag.dagrun_timeout, f"{dag_id} has no dagrun_timeout"
    for task in dag.tasks:
        name = f"{dag_id}.{task.task_id}"
        assert task.execution_timeout, f"{name} has no execution_timeout"
        assert _worst_case(task) <= dag.dagrun_timeout, (
            f"{name}: {task.retries + 1} tries of {task.execution_timeout} + {task.retries} x "
            f"{task.retry_delay} = {_worst_case(task)} > dagrun_timeout {dag.dagrun_timeout}"
        )


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_statement_timeouts_fit_in_a_try(dagbag, dag_id):
    """A slow statement fails the try with the database's own error before Airflow kills it.

    The check tasks (alerting.groups) connect with a third of their execution_timeout as the
    statement timeout; any other task connects with core.db's default (120 s) plus a 10 s
    connect timeout, so its try must be longer than that."""
    signature = inspect.signature(db.connect).parameters
    default = timedelta(milliseconds=signature["statement_timeout_ms"].default)
    connect = timedelta(seconds=signature["connect_timeout"].default)
    assert default == MAX_STATEMENT_TIMEOUT
    dag = dagbag.get_dag(dag_id)
    for task in dag.tasks:
        name = f"{dag_id}.{task.task_id}"
        assert statement_timeout_for(task.execution_timeout) <= task.execution_timeout / 3, name
        callable_ = getattr(task, "python_callable", None)
        if callable_ is None:  # EmptyOperator: no database
            continue
        if callable_.__module__ != "nurture_ops.alerting.groups":
            assert task.execution_timeout > default + connect, (
                f"{name}: a try of {task.execution_timeout} is too short for the default "
                f"{default} statement timeout"
            )


def test_the_5_minute_budget():
    """The issue's numbers: a minute per try, a 20 s statement timeout, one retry after 10 s,
    all inside the 4-minute run."""
    settings = dag_settings(
        "x",
        dagrun_timeout=timedelta(minutes=4),
        execution_timeout=timedelta(seconds=60),
        retries=1,
        retry_delay=timedelta(seconds=10),
        tags=[],
        doc_md="",
    )
    args = settings["default_args"]
    assert (args["execution_timeout"], args["retries"], args["retry_delay"]) == (
        timedelta(seconds=60),
        1,
        timedelta(seconds=10),
    )
    assert statement_timeout_for(args["execution_timeout"]) == timedelta(seconds=20)
    assert statement_timeout_for(timedelta(hours=2)) == MAX_STATEMENT_TIMEOUT
    assert statement_timeout_for(None) == MAX_STATEMENT_TIMEOUT


def test_a_budget_whose_tries_outlast_the_run_is_refused():
    """Today's 5-minute DAG had retries 2 with 20 s delays and no execution_timeout; with 100 s
    tries it would still not fit in 4 minutes, and the DAG file fails to load instead."""
    with pytest.raises(ValueError, match="longer than dagrun_timeout 0:04:00"):
        Budget(timedelta(minutes=4), timedelta(seconds=100), 2, timedelta(seconds=20))
    assert Budget(timedelta(minutes=4), timedelta(seconds=60), 1, timedelta(seconds=10)).worst_case == (
        timedelta(seconds=130)
    )


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_dag_file_reads_like_configuration(dag_id):
    lines = (DAGS_DIR / f"{dag_id}.py").read_text().splitlines()
    assert len(lines) <= 150, f"{dag_id}.py has {len(lines)} lines; move logic into plugins/nurture_ops"


def test_nothing_happens_at_parse_time():
    """No connection, Variable, database or SQL file touched while the DagBag loads (doc_md is
    generated from catalog data: SQL files are named, never read); parse time reported."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    with (
        mock.patch.object(
            BaseHook, "get_connection", side_effect=AssertionError("get_connection at parse time")
        ) as conn,
        mock.patch.object(Variable, "get", side_effect=AssertionError("Variable.get at parse time")) as var,
        mock.patch("psycopg.connect", side_effect=AssertionError("database connection at parse time")) as pg,
        mock.patch(
            "nurture_ops.core.sql.sql_root", side_effect=AssertionError("SQL file read at parse time")
        ) as sql,
    ):
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS_DIR))
        elapsed = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    assert conn.call_count == var.call_count == pg.call_count == sql.call_count == 0
    print(f"\nDagBag parse: {len(bag.dags)} DAGs in {elapsed:.2f} s")
    assert set(DAG_FILES) <= set(bag.dags)
