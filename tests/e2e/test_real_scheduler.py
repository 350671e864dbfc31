"""nurture_alerts_5min under the real Airflow components, as `make run` starts them.

api-server, scheduler (LocalExecutor), dag-processor and triggerer are started with dev/stack.py's
own functions, on free 127.0.0.1 ports, with a private AIRFLOW_HOME under tmp_path and the
metadata in a fresh PostgreSQL database on the test cluster. The DAG is unpaused and triggered
through the REST API v2; the Slack sink (in-process, free port) must receive one [CRITICAL] for a
seeded failure spike, then one [RESOLVED] once the window is healthy.

Cron scheduling is off (use_job_schedule=False): a scheduled run for "now" would make the
triggered runs' earlier evaluations stale. Every other DAG stays paused (paused at creation).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from dev import pg, stack
from tests.alerting.test_alerts_5min_dag import add_window
from tests.builders import Seed

pytestmark = pytest.mark.e2e

DAG_ID = "nurture_alerts_5min"
START_ORDER = ("api_server", "dag_processor", "triggerer")  # then the scheduler, as `make run` does
RUN_TIMEOUT = 120.0  # seconds from trigger to a finished run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((stack.HOST, 0))
        return sock.getsockname()[1]


class Api:
    """A minimal REST API v2 client with a bearer token from POST /auth/token."""

    def __init__(self, port: int):
        self.base = f"http://{stack.HOST}:{port}"
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, expect: tuple[int, ...] = (200,)):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        assert status in expect, f"{method} {path}: HTTP {status}: {text[:500]}"
        return status, (json.loads(text) if text else None)

    def login(self, user: str, password: str) -> None:
        _, body = self.call("POST", "/auth/token", {"username": user, "password": password}, expect=(201,))
        self.token = body["access_token"]


@pytest.fixture
def airflow_stack(tmp_path, leads_db, slack_sink):
    """The real components on free ports; yields (Api, log_dir). Everything started here is ended
    by its session id in the finalizer, and the metadata database dropped, even on failure."""
    import psycopg
    from psycopg import sql

    metadata_db = f"airflow_e2e_{os.getpid()}"
    api_port = free_port()
    home, log_dir = tmp_path / "airflow", tmp_path / "logs"
    procs: dict[str, subprocess.Popen] = {}
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata_db)))
    try:
        stack.ensure_metadata_db(metadata_db)
        env = stack.airflow_env(
            home=home,
            api_port=api_port,
            sink_port=slack_sink.port,
            n8n_port=free_port(),
            metadata_db=metadata_db,
        )
        env.update(
            {
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        # AIRFLOW_CONN_LEADS_DB / AIRFLOW_CONN_SLACK_ALERTS come from the leads_db and slack_sink
        # fixtures through os.environ: every component (and so every task process) inherits them.
        assert env["AIRFLOW_CONN_SLACK_ALERTS"] == slack_sink.connection_json()
        migrate = subprocess.run(
            [str(stack.BIN / "airflow"), "db", "migrate"],
            cwd=stack.REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        commands = stack.airflow_commands(api_port)
        for name in START_ORDER:
            procs[name] = stack.start_service(name, env, command=commands[name], log_dir=log_dir)
        stack.wait_for(lambda: stack.health(api_port), procs, "the api-server answering", 120, log_dir)
        procs["scheduler"] = stack.start_service(
            "scheduler", env, command=commands["scheduler"], log_dir=log_dir
        )
        stack.wait_for(lambda: stack.healthy_report(api_port), procs, "every component healthy", 120, log_dir)
        api = Api(api_port)
        user, password = stack.login(home)
        assert password, f"no generated password in {stack.passwords_file(home)}"
        api.login(user, password)
        yield api, log_dir
    finally:
        for name in stack.STOP_ORDER:
            if name in procs:
                left = stack.end_session(procs[name].pid)
                procs[name].wait(timeout=5)
                assert not left, f"{name}: processes would not die: {left}"
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata_db))
            )


def trigger_and_wait(api: Api, logical_date: datetime, log_dir) -> tuple[str, float]:
    """Trigger DAG_ID for `logical_date`; returns (final state, seconds from trigger to it)."""
    began = time.monotonic()
    _, run = api.call(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": logical_date.isoformat()}, expect=(200,)
    )
    run_id = run["dag_run_id"]
    deadline = began + RUN_TIMEOUT
    while True:
        _, run = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run["state"], time.monotonic() - began
        assert time.monotonic() < deadline, (
            f"{run_id} still {run['state']} after {RUN_TIMEOUT:.0f} s; logs: {log_dir}"
        )
        time.sleep(1)


def test_alert_fires_once_then_resolves_once_under_the_scheduler(airflow_stack, db, slack_sink, capsys):
    api, log_dir = airflow_stack
    seed = Seed(db)
    org = seed.org("Acme Corp")
    campaign = seed.campaign(org, "Welcome series")
    lead = seed.lead(org)

    # Wait for the dag-processor to have parsed the DAG, then unpause it.
    deadline = time.monotonic() + 90
    while api.call("GET", f"/api/v2/dags/{DAG_ID}", expect=(200, 404))[0] != 200:
        assert time.monotonic() < deadline, f"{DAG_ID} not parsed after 90 s; see {log_dir}"
        time.sleep(1)
    _, dag = api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert dag["is_paused"] is False
    _, dags = api.call("GET", "/api/v2/dags?paused=false")
    assert [d["dag_id"] for d in dags["dags"]] == [DAG_ID]  # every other DAG stays paused

    # A failure spike in the five minutes before the first logical date (in the past, so it is
    # neither "in the future" nor older than the second run's).
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(minutes=6)
    add_window(seed, campaign, lead, first, sent=28, failed=12)
    state, first_seconds = trigger_and_wait(api, first, log_dir)
    assert state == "success", f"first run {state}; task logs under {log_dir.parent / 'airflow' / 'logs'}"
    texts = [p["text"] for p in slack_sink.payloads()]
    assert texts == [
        "[CRITICAL] High Email Failure Rate: 30.0% of 40 emails failed in the last 5 minutes (threshold 10%)"
    ]

    # Fixed: a healthy window before the second (later) logical date.
    second = datetime.now(UTC).replace(microsecond=0)
    add_window(seed, campaign, lead, second, sent=50, failed=1)
    state, second_seconds = trigger_and_wait(api, second, log_dir)
    assert state == "success"
    texts = [p["text"] for p in slack_sink.payloads()]
    assert texts[1:] == [
        "[RESOLVED] High Email Failure Rate: 2.0% of 51 emails failed in the last 5 minutes (threshold 10%)"
    ]
    assert sum(t.startswith("[CRITICAL]") for t in texts) == 1
    with capsys.disabled():
        print(
            f"\n  {DAG_ID}: trigger to success {first_seconds:.1f} s (fire), {second_seconds:.1f} s (resolve)"
        )
