"""Every DAG of the package: loads, follows the house policy, does nothing at parse time."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest

from nurture_ops.alerting.defaults import ALLOWED_TAGS, OWNER

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
    assert isinstance(dag.start_date, datetime) and dag.start_date.tzinfo is not None
    assert dag.catchup in (True, False)
    assert dag.max_active_runs >= 1
    for task in dag.tasks:
        assert task.owner == OWNER, task.task_id
        assert task.retries >= 2, task.task_id
        assert task.on_failure_callback, f"{dag_id}.{task.task_id} has no failure callback"


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_dag_file_reads_like_configuration(dag_id):
    lines = (DAGS_DIR / f"{dag_id}.py").read_text().splitlines()
    assert len(lines) <= 150, f"{dag_id}.py has {len(lines)} lines; move logic into plugins/nurture_ops"


def test_nothing_happens_at_parse_time():
    """No connection, Variable or database touched while the DagBag loads; parse time reported."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    with (
        mock.patch.object(
            BaseHook, "get_connection", side_effect=AssertionError("get_connection at parse time")
        ) as conn,
        mock.patch.object(Variable, "get", side_effect=AssertionError("Variable.get at parse time")) as var,
        mock.patch("psycopg.connect", side_effect=AssertionError("database connection at parse time")) as pg,
    ):
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS_DIR))
        elapsed = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    assert conn.call_count == var.call_count == pg.call_count == 0
    print(f"\nDagBag parse: {len(bag.dags)} DAGs in {elapsed:.2f} s")
    assert set(DAG_FILES) <= set(bag.dags)
