"""Airflow's real components on free ports, driven through the REST API v2 (local use only).

tests/e2e (the real-scheduler and Celery tests) and dev/bench_scheduler.py (`make bench`) boot
the components exactly as `make run` does, from dev/stack.py's own functions (airflow_env,
airflow_commands, start_service, end_session) and, for the CeleryExecutor, dev/celery_stack.py's
broker and workers; but every port is free (bound to 127.0.0.1 port 0), AIRFLOW_HOME is a private
folder and the metadata lives in a fresh database of the running dev/pg.py cluster, dropped again
at the end. Everything started is ended by its session id, also when the caller fails.

Cron scheduling is off (use_job_schedule=False) and DAGs are paused at creation: only what the
caller unpauses and triggers runs.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dev import celery_stack, pg, stack

EXECUTORS = ("local", "celery")
START_ORDER = ("api_server", "dag_processor", "triggerer")  # then the scheduler, as `make run` does
# The scheduler first (no new task starts), then the workers, the api-server they call, the broker.
STOP_ORDER = (
    "scheduler",
    *celery_stack.WORKERS,
    "triggerer",
    "dag_processor",
    "api_server",
    celery_stack.REDIS,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((stack.HOST, 0))
        return sock.getsockname()[1]


class ApiError(AssertionError):
    """An unexpected HTTP status from the REST API (an AssertionError, so pytest shows it plainly)."""


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
        if status not in expect:
            raise ApiError(f"{method} {path}: HTTP {status}: {text[:500]}")
        return status, (json.loads(text) if text else None)

    def login(self, user: str, password: str) -> None:
        _, body = self.call("POST", "/auth/token", {"username": user, "password": password}, expect=(201,))
        self.token = body["access_token"]

    # -- what the tests and the bench do with it --------------------------------------------------

    def wait_parsed(self, dag_id: str, timeout: float = 90.0) -> None:
        """Wait until the dag-processor has parsed `dag_id` (GET /dags/{id} answers 200)."""
        deadline = time.monotonic() + timeout
        while self.call("GET", f"/api/v2/dags/{dag_id}", expect=(200, 404))[0] != 200:
            if time.monotonic() > deadline:
                raise ApiError(f"{dag_id} not parsed after {timeout:.0f} s")
            time.sleep(1)

    def unpause(self, dag_id: str) -> None:
        self.wait_parsed(dag_id)
        _, dag = self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        if dag["is_paused"] is not False:
            raise ApiError(f"{dag_id} is still paused")

    def trigger(self, dag_id: str, logical_date: datetime, conf: dict | None = None) -> str:
        body: dict = {"logical_date": logical_date.isoformat()}
        if conf is not None:
            body["conf"] = conf
        _, run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        return run["dag_run_id"]

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 180.0, poll: float = 0.5) -> dict:
        """Poll the run until it is success or failed; returns the run."""
        deadline = time.monotonic() + timeout
        while True:
            _, run = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise ApiError(f"{dag_id} {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(poll)

    def trigger_and_wait(
        self, dag_id: str, logical_date: datetime, timeout: float = 180.0, conf: dict | None = None
    ) -> tuple[dict, float]:
        """Trigger `dag_id` for `logical_date`; returns (the finished run, seconds from the trigger
        call to the moment the API first showed it finished)."""
        began = time.monotonic()
        run_id = self.trigger(dag_id, logical_date, conf)
        run = self.wait_finished(dag_id, run_id, timeout)
        return run, time.monotonic() - began

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        _, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
        return body["task_instances"]


@dataclass
class Components:
    """A running set of Airflow components (see components())."""

    api: Api
    executor: str
    home: Path
    log_dir: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def task_log_dir(self) -> Path:
        return self.home / "logs"


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def components(
    root: Path,
    *,
    metadata_db: str,
    sink_port: int,
    n8n_port: int | None = None,
    executor: str = "local",
    concurrency: int = celery_stack.CONCURRENCY,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> Iterator[Components]:
    """Start api-server, dag-processor, triggerer and scheduler (LocalExecutor, or CeleryExecutor
    with a Redis broker and two workers), wait until every one is healthy, log in; yields the
    Components. The connections come from the environment (os.environ, then `extra_env`): every
    component, and so every task process, inherits them. PostgreSQL must be running."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    api_port = free_port()
    home, log_dir = root / "airflow", root / "logs"
    procs: dict[str, subprocess.Popen] = {}
    redis_port = free_port() if executor == "celery" else None
    drop_database(metadata_db)
    try:
        stack.ensure_metadata_db(metadata_db)
        env = stack.airflow_env(
            home=home,
            api_port=api_port,
            sink_port=sink_port,
            n8n_port=n8n_port or free_port(),
            metadata_db=metadata_db,
            executor=executor,
            redis_port=redis_port,
            concurrency=concurrency,
        )
        env.update(
            {
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                **(extra_env or {}),
            }
        )
        migrate = subprocess.run(
            [str(stack.BIN / "airflow"), "db", "migrate"],
            cwd=stack.REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(
                "airflow db migrate failed:\n" + migrate.stdout[-2000:] + migrate.stderr[-2000:]
            )
        commands = stack.airflow_commands(api_port)
        if redis_port:
            procs[celery_stack.REDIS] = stack.start_service(
                celery_stack.REDIS,
                env,
                command=celery_stack.redis_command(redis_port, root / "redis"),
                log_dir=log_dir,
            )
        for name in START_ORDER:
            procs[name] = stack.start_service(name, env, command=commands[name], log_dir=log_dir)
        stack.wait_for(lambda: stack.health(api_port), procs, "the api-server answering", timeout, log_dir)
        procs["scheduler"] = stack.start_service(
            "scheduler", env, command=commands["scheduler"], log_dir=log_dir
        )
        if redis_port:
            for name in celery_stack.WORKERS:
                workdir = celery_stack.fresh_workdir(root / "workers", name)
                procs[name] = stack.start_service(
                    name,
                    celery_stack.worker_env(env, name, workdir),
                    command=celery_stack.worker_command(name, workdir, concurrency),
                    log_dir=log_dir,
                    cwd=workdir,
                )
        stack.wait_for(
            lambda: stack.healthy_report(api_port), procs, "every component healthy", timeout, log_dir
        )
        if redis_port:
            stack.wait_for(
                lambda: celery_stack.workers_ready(redis_port=redis_port),
                procs,
                "both Celery workers answering",
                timeout,
                log_dir,
            )
        api = Api(api_port)
        user, password = stack.login(home)
        if not password:
            raise RuntimeError(f"no generated password in {stack.passwords_file(home)}")
        api.login(user, password)
        yield Components(api=api, executor=executor, home=home, log_dir=log_dir, env=env, procs=procs)
    finally:
        stuck = {}
        for name in STOP_ORDER:
            if name in procs:
                left = stack.end_session(procs[name].pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    procs[name].wait(timeout=5)
                if left:
                    stuck[name] = left
        drop_database(metadata_db)
        if stuck:
            raise RuntimeError(f"processes would not die: {stuck}")
