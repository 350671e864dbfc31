"""nurture_alerts_5min under the real Airflow components, as `make run` starts them.

api-server, scheduler (LocalExecutor), dag-processor and triggerer are started with dev/stack.py's
own functions (dev/scheduler_harness.py, through the `airflow_stack` fixture of conftest.py), on
free 127.0.0.1 ports, with a private AIRFLOW_HOME under tmp_path and the metadata in a fresh
PostgreSQL database on the test cluster. The DAG is unpaused and triggered
through the REST API v2; the Slack sink (in-process, free port) must receive one [CRITICAL] for a
seeded failure spike, then one [RESOLVED] once the window is healthy.

Cron scheduling is off (use_job_schedule=False): a scheduled run for "now" would make the
triggered runs' earlier evaluations stale. Every other DAG stays paused (paused at creation).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.alerting.test_alerts_5min_dag import add_window
from tests.builders import Seed

pytestmark = [pytest.mark.e2e, pytest.mark.scheduler]

DAG_ID = "nurture_alerts_5min"
RUN_TIMEOUT = 120.0  # seconds from trigger to a finished run


def test_alert_fires_once_then_resolves_once_under_the_scheduler(airflow_stack, db, slack_sink, capsys):
    api, log_dir = airflow_stack.api, airflow_stack.log_dir
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)

    api.unpause(DAG_ID)  # once the dag-processor has parsed it
    _, dags = api.call("GET", "/api/v2/dags?paused=false")
    assert [d["dag_id"] for d in dags["dags"]] == [DAG_ID]  # every other DAG stays paused

    # A failure spike in the five minutes before the first logical date (in the past, so it is
    # neither "in the future" nor older than the second run's).
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(minutes=6)
    add_window(seed, campaign, lead, first, sent=28, failed=12)
    run, first_seconds = api.trigger_and_wait(DAG_ID, first, RUN_TIMEOUT)
    assert run["state"] == "success", (
        f"first run {run['state']}; task logs under {airflow_stack.task_log_dir}"
    )
    texts = [p["text"] for p in slack_sink.payloads()]
    assert texts == [
        "[CRITICAL] High Email Failure Rate: 30.0% of 40 emails failed in the last 5 minutes (threshold 10%)"
    ]

    # Fixed: a healthy window before the second (later) logical date.
    second = datetime.now(UTC).replace(microsecond=0)
    add_window(seed, campaign, lead, second, sent=50, failed=1)
    run, second_seconds = api.trigger_and_wait(DAG_ID, second, RUN_TIMEOUT)
    assert run["state"] == "success", f"second run {run['state']}; logs under {log_dir}"
    texts = [p["text"] for p in slack_sink.payloads()]
    assert texts[1:] == [
        "[RESOLVED] High Email Failure Rate: 2.0% of 51 emails failed in the last 5 minutes (threshold 10%)"
    ]
    assert sum(t.startswith("[CRITICAL]") for t in texts) == 1
    with capsys.disabled():
        print(
            f"\n  {DAG_ID}: trigger to success {first_seconds:.1f} s (fire), {second_seconds:.1f} s (resolve)"
        )
