"""dev/celery_stack.py and `make run EXECUTOR=celery`: a Redis broker on 127.0.0.1 only, two
workers with their own hostnames and folders, no log server, and `make stop` knowing them all.
The whole executor runs in tests/e2e/test_celery_executor.py (`make test-celery`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dev import celery_stack, stack
from dev.scheduler_harness import free_port

REPO = Path(__file__).resolve().parents[2]


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} write them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def test_the_broker_listens_on_loopback_only_and_stops_with_its_session(tmp_path):
    port = free_port()
    proc = stack.start_service(
        celery_stack.REDIS,
        dict(os.environ),
        command=celery_stack.redis_command(port, tmp_path / "redis"),
        log_dir=tmp_path,
    )
    try:
        stack.wait_for(
            lambda: celery_stack.redis_ready(port), {"redis": proc}, "redis answering", 20, tmp_path
        )
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, nothing on 0.0.0.0 or IPv6
    finally:
        assert stack.end_session(proc.pid) == []
        proc.wait(timeout=5)
    assert not celery_stack.redis_ready(port)
    assert not _listening(port)


def test_workers_have_their_own_hostname_folder_and_no_log_server(tmp_path):
    env = {"PATH": os.environ["PATH"]}
    names = set()
    for name in celery_stack.WORKERS:
        workdir = celery_stack.fresh_workdir(tmp_path, name)
        command = celery_stack.worker_command(name, workdir)
        assert "--skip-serve-logs" in command  # Airflow's serve-logs binds every interface
        assert command[command.index("--pid") + 1] == str(workdir / "worker.pid")
        worker = celery_stack.worker_env(env, name, workdir)
        assert worker["TMPDIR"] == str(workdir / "tmp") and Path(worker["TMPDIR"]).is_dir()
        probe = subprocess.run(
            [sys.executable, "-c", "from dev.celery_stack import worker_hostname; print(worker_hostname())"],
            cwd=REPO,
            env={**worker, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert worker["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "dev.celery_stack.worker_hostname"
        names.add(probe.stdout.strip())
    assert names == set(celery_stack.WORKERS)


def test_make_run_executor_celery_adds_the_broker_and_workers_and_stop_knows_them():
    script = (
        "import json; from dev import stack; env = stack.airflow_env();"
        "print(json.dumps({'services': stack.SERVICES, 'first': stack.FIRST, 'stop': stack.STOP_ORDER,"
        "'ports': stack.PORTS, 'env': {k: v for k, v in env.items() if k.startswith('AIRFLOW__C')}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={
            **os.environ,
            "NURTURE_EXECUTOR": "celery",
            "NURTURE_REDIS_PORT": "6399",
            "AIRFLOW__API_AUTH__JWT_SECRET": "test",  # no secret file written into .local/
            "PYTHONPATH": str(REPO),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert set(seen["services"]) == set(seen["stop"])
    assert seen["first"][0] == celery_stack.REDIS
    assert seen["services"][celery_stack.REDIS][1:3] == ["--bind", "127.0.0.1"]
    assert seen["ports"][celery_stack.REDIS] == [6399, "NURTURE_REDIS_PORT"]
    env = seen["env"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6399/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://postgres@127.0.0.1:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("/airflow")
