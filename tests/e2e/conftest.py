"""The real Airflow components for tests/e2e, booted by dev/scheduler_harness.py as `make run` does.

`airflow_stack` runs the LocalExecutor, `celery_stack` the CeleryExecutor with a Redis broker and
two workers (one slot each, so tasks queued together land on different workers). Both take the
connections of the `leads_db` and `slack_sink` fixtures from the environment, keep their metadata
in a fresh database of the test cluster, and end everything they started, even on failure.
"""

from __future__ import annotations

import os

import pytest

from dev import scheduler_harness


def _stack(tmp_path, slack_sink, executor: str, **options):
    # AIRFLOW_CONN_LEADS_DB / AIRFLOW_CONN_SLACK_ALERTS come from the leads_db and slack_sink
    # fixtures through os.environ: every component (and so every task process) inherits them.
    assert os.environ["AIRFLOW_CONN_SLACK_ALERTS"] == slack_sink.connection_json()
    return scheduler_harness.components(
        tmp_path,
        metadata_db=f"airflow_e2e_{executor}_{os.getpid()}",
        sink_port=slack_sink.port,
        executor=executor,
        **options,
    )


@pytest.fixture
def airflow_stack(tmp_path, leads_db, slack_sink):
    """api-server, scheduler (LocalExecutor), dag-processor, triggerer; yields Components."""
    with _stack(tmp_path, slack_sink, "local") as components:
        yield components


@pytest.fixture
def celery_stack(tmp_path, leads_db, slack_sink):
    """The same with the CeleryExecutor: Redis broker, result backend in the metadata database,
    two workers with one slot each; yields Components."""
    with _stack(tmp_path, slack_sink, "celery", concurrency=1) as components:
        yield components
