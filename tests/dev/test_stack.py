"""dev/stack.py (`make run` / `make stop`): loopback-only services, and a stop that ends exactly
what the stack started. No Airflow is booted here (too slow); the processes are small stand-ins."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from dev import celery_stack, fake_n8n, pg, slack_sink, stack

# A service that forks a child into a process group of its own, as Airflow's task processes do.
FORKING_SERVICE = [
    sys.executable,
    "-c",
    "import subprocess, sys, time;"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], process_group=0);"
    "time.sleep(60)",
]


@pytest.fixture
def local(tmp_path, monkeypatch):
    """The stack's state folders moved to tmp_path, so nothing here touches a running stack."""
    monkeypatch.setattr(stack, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(stack, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(stack, "AIRFLOW_HOME", tmp_path / "airflow")
    return tmp_path


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def test_every_service_listens_on_loopback_only(local):
    services = stack.SERVICES
    assert services["api_server"][1:4] == ["api-server", "-H", "127.0.0.1"]
    # `airflow standalone` and the components' log servers bind 0.0.0.0: neither is used.
    assert "--skip-serve-logs" in services["scheduler"]
    assert "--skip-serve-logs" in services["triggerer"]
    assert not any("standalone" in part for command in services.values() for part in command)
    assert slack_sink.HOST == fake_n8n.HOST == stack.HOST == pg.HOST == "127.0.0.1"
    assert set(stack.FIRST) < set(services) and set(services) <= set(stack.STOP_ORDER)
    # The rest of STOP_ORDER: the Celery services of `make run EXECUTOR=celery` (tests/dev/test_celery_stack.py)
    assert set(stack.STOP_ORDER) - set(services) == {celery_stack.REDIS, *celery_stack.WORKERS}

    env = stack.airflow_env()
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{stack.API_PORT}/execution/"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "False"  # its server binds 0.0.0.0:8974
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW_HOME"] == str(local / "airflow")


def test_components_share_one_persistent_jwt_secret(local, monkeypatch):
    monkeypatch.delenv("AIRFLOW__API_AUTH__JWT_SECRET", raising=False)
    first = stack.airflow_env()["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert stack.airflow_env()["AIRFLOW__API_AUTH__JWT_SECRET"] == first
    assert len(first) >= 86  # 64 random bytes, URL-safe base64: long enough for HS512
    path = local / "airflow" / "jwt_secret"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "from-the-shell")
    assert stack.airflow_env()["AIRFLOW__API_AUTH__JWT_SECRET"] == "from-the-shell"


def test_login_reads_the_generated_password(local):
    assert stack.login() == ("admin", None)
    (local / "airflow").mkdir()
    stack.passwords_file().write_text(json.dumps({"admin": "s3cret-Pw"}))
    assert stack.login() == ("admin", "s3cret-Pw")
    env = stack.airflow_env()
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(stack.passwords_file())


def test_healthy_only_when_every_component_is():
    healthy = {name: {"status": "healthy"} for name in stack.HEALTH_COMPONENTS}
    assert stack.is_healthy(healthy)
    assert not stack.is_healthy({**healthy, "scheduler": {"status": "unhealthy"}})
    assert not stack.is_healthy({**healthy, "triggerer": None})
    assert not stack.is_healthy(None)


def test_stop_with_nothing_running_is_a_no_op(local, capsys):
    postgres_before = pg.is_running()
    stack.stop()
    assert "Nothing to stop." in capsys.readouterr().out
    assert pg.is_running() == postgres_before  # a server the stack did not start is left alone
    assert not (local / "run").exists() or not any((local / "run").iterdir())


def test_stop_ends_the_service_and_everything_in_its_session(local, monkeypatch, capsys):
    monkeypatch.setitem(stack.SERVICES, "scheduler", FORKING_SERVICE)
    proc = stack.start_service("scheduler", dict(os.environ))
    try:
        wait_until(lambda: len(stack.session_members(proc.pid)) == 2)
        (child,) = set(stack.session_members(proc.pid)) - {proc.pid}
        # Popen(process_group=0): the child is in the session a moment before its setpgid.
        wait_until(lambda: os.getpgid(child) == child)
        assert os.getpgid(child) == child != proc.pid  # outside the service's process group
        assert stack.service_pid("scheduler") == proc.pid

        stack.stop()

        assert not stack.alive(proc.pid)
        assert not stack.alive(child)
        assert stack.session_members(proc.pid) == []
        assert not (local / "run" / "scheduler.pid").exists()
        assert "scheduler: stopped" in capsys.readouterr().out
    finally:
        for pid in stack.session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=5)


def test_a_pid_file_whose_process_was_replaced_is_ignored(local):
    """After a reboot a recorded PID may belong to another program: stop must not signal it."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        (local / "run").mkdir()
        (local / "run" / "api_server.pid").write_text(json.dumps({"pid": other.pid, "started": "0"}))
        assert stack.service_pid("api_server") is None
        assert stack.stop_service("api_server") is False
        time.sleep(0.2)
        assert other.poll() is None  # still running
        assert not (local / "run" / "api_server.pid").exists()
    finally:
        other.kill()
        other.wait(timeout=5)


def test_stop_leaves_a_postgresql_it_did_not_start(local, pg_server, capsys):
    postmaster = stack._postmaster_pid()
    assert postmaster
    (local / "run").mkdir()
    (local / "run" / stack.PG_MARKER).write_text(json.dumps({"pid": postmaster + 1_000_000}))
    assert stack.stop_database() is False
    assert pg.is_running() and stack._postmaster_pid() == postmaster
    assert "postgresql: left running" in capsys.readouterr().out
    assert not (local / "run" / stack.PG_MARKER).exists()


def test_run_refuses_a_second_stack_and_ports_held_by_others(local, monkeypatch):
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stack._write_record(stack.RUNNER, runner.pid)
        with pytest.raises(SystemExit, match=f"already running .*pid {runner.pid}"):
            stack.run()
        assert not (local / "logs").exists()  # nothing was started
    finally:
        runner.kill()
        runner.wait(timeout=5)

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setattr(stack, "PORTS", {"api_server": (port, "NURTURE_AIRFLOW_PORT")})
        with pytest.raises(SystemExit, match=f"127.0.0.1:{port} .*NURTURE_AIRFLOW_PORT={port + 1} make run"):
            stack.check_ports()


def test_env_exports_point_a_shell_at_the_stack(local):
    exports = stack.env_exports()
    shell = subprocess.run(
        ["bash", "-c", exports + 'echo "$AIRFLOW_HOME|$AIRFLOW__CORE__EXECUTION_API_SERVER_URL|$PYTHONPATH"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    home, api, pythonpath = shell.stdout.strip().split("|")
    assert home == str(local / "airflow")
    assert api == f"http://127.0.0.1:{stack.API_PORT}/execution/"
    assert pythonpath.split(os.pathsep) == [str(stack.REPO / "plugins"), str(stack.REPO)]


def test_metadata_lives_in_postgresql_and_an_old_sqlite_db_is_noted_once(local, capsys):
    env = stack.airflow_env()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg://postgres@127.0.0.1:{pg.PORT}/{stack.METADATA_DB}"
    )
    other = stack.airflow_env(home=local / "e2e", api_port=18080, metadata_db="airflow_x")
    assert other["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airflow_x")
    assert other["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert other["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        stack.passwords_file(local / "e2e")
    )

    stack.note_old_sqlite()  # no old database: nothing to say
    assert capsys.readouterr().out == ""
    old = local / "airflow" / "airflow.db"
    old.write_bytes(b"SQLite format 3\0")
    stack.note_old_sqlite()
    out = capsys.readouterr().out
    assert "no longer used" in out and str(old) in out and "Delete it" in out
    stack.note_old_sqlite()
    assert capsys.readouterr().out == ""  # once
    assert old.exists()  # never deleted for the user
