"""The local stack behind `make run` and `make stop` (local use only; never imported by DAGs).

    python -m dev.stack run     # PostgreSQL (seeded), Slack sink, fake N8n, traffic simulator,
                                # Airflow 3 (api-server + UI, scheduler, dag-processor,
                                # triggerer); Ctrl-C stops everything it started
    python -m dev.stack stop    # stops what `run` (or `make db`) started, by PID

Everything listens on 127.0.0.1. Airflow's components are started one by one rather than with
`airflow standalone`, whose log servers bind 0.0.0.0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dev import pg

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
RUN_DIR = LOCAL / "run"
LOG_DIR = LOCAL / "logs"
AIRFLOW_HOME = LOCAL / "airflow"
SLACK_LOG = LOCAL / "slack.jsonl"
API_PORT = int(os.environ.get("NURTURE_AIRFLOW_PORT", "8080"))
SINK_PORT = int(os.environ.get("NURTURE_SLACK_SINK_PORT", "8765"))
N8N_PORT = int(os.environ.get("NURTURE_FAKE_N8N_PORT", "5678"))
DEMO_DB = "nurture"
BIN = Path(sys.executable).parent


def airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Two cores: a handful of worker processes, not the default 32.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{API_PORT}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{API_PORT}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(API_PORT),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        }
    )
    return env


SERVICES: dict[str, list[str]] = {
    "slack_sink": [sys.executable, "-m", "dev.slack_sink", "--port", str(SINK_PORT), "--out", str(SLACK_LOG)],
    "fake_n8n": [sys.executable, "-m", "dev.fake_n8n", "--port", str(N8N_PORT), "--api-key", "local-dev-key"],
    "simulator": [sys.executable, "-m", "dev.simulate", "--dsn", pg.dsn(DEMO_DB)],
    "api_server": [str(BIN / "airflow"), "api-server", "-H", "127.0.0.1", "-p", str(API_PORT), "-w", "1"],
    "scheduler": [str(BIN / "airflow"), "scheduler", "--skip-serve-logs"],
    "dag_processor": [str(BIN / "airflow"), "dag-processor"],
    "triggerer": [str(BIN / "airflow"), "triggerer", "--skip-serve-logs"],
}


def _pidfile(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_pid(name: str) -> int | None:
    path = _pidfile(name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def start_service(name: str, env: dict[str, str]) -> int:
    pid = _running_pid(name)
    if pid:
        print(f"  {name}: already running (pid {pid})")
        return pid
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child process
    # Own session: `stop` ends the service and every worker it forked, and nothing else.
    proc = subprocess.Popen(
        SERVICES[name], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    _pidfile(name).write_text(str(proc.pid))
    print(f"  {name}: started (pid {proc.pid}, log {LOG_DIR / (name + '.log')})")
    return proc.pid


def stop_service(name: str, timeout: float = 20.0) -> None:
    pid = _running_pid(name)
    if not pid:
        _pidfile(name).unlink(missing_ok=True)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    _pidfile(name).unlink(missing_ok=True)
    print(f"  {name}: stopped")


def stop() -> None:
    for name in reversed(list(SERVICES)):
        stop_service(name)
    pg.stop()


def _airflow(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "airflow"), *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare_database() -> None:
    pg.start()
    pg.createdb(DEMO_DB)
    subprocess.run(
        [sys.executable, "-m", "dev.seed", "--dsn", pg.dsn(DEMO_DB), "--if-empty"], cwd=REPO, check=True
    )


def wait_healthy(timeout: float = 180.0) -> dict:
    url = f"http://127.0.0.1:{API_PORT}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Airflow did not become healthy at {url}; see {LOG_DIR}/api_server.log"
                ) from None
            time.sleep(1)


def _password() -> str:
    generated = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
    if generated.exists():
        return json.loads(generated.read_text()).get("admin", "?")
    return "(see " + str(generated) + ")"


def follow_slack(stop_flag: list[bool]) -> None:
    """Print each message the sink receives until Ctrl-C."""
    SLACK_LOG.touch()
    with SLACK_LOG.open() as stream:
        stream.seek(0, os.SEEK_END)
        while not stop_flag[0]:
            line = stream.readline()
            if not line:
                time.sleep(0.5)
                continue
            payload = json.loads(line).get("payload", {})
            print(f"  slack ← {payload.get('text', '')[:160]}")


def run() -> None:
    print("Lead-nurture ops: starting the local stack (Ctrl-C or `make stop` ends it)")
    prepare_database()
    env = airflow_env()
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    print("  airflow: migrating the metadata database")
    _airflow(["db", "migrate"], env)
    settings_env = {**env, "NURTURE_SLACK_SINK_PORT": str(SINK_PORT), "NURTURE_FAKE_N8N_PORT": str(N8N_PORT)}
    subprocess.run([sys.executable, "-m", "dev.settings", "import"], cwd=REPO, env=settings_env, check=True)
    for name in SERVICES:
        start_service(name, env)
    health = wait_healthy()
    print(
        "\nReady.\n"
        f"  Airflow UI      http://127.0.0.1:{API_PORT}   (user admin, password {_password()})\n"
        f"  health          {json.dumps(health.get('metadatabase', health))}\n"
        f"  lead-nurture DB {pg.dsn(DEMO_DB)}\n"
        f"  Slack messages  {SLACK_LOG} (and below)\n"
        f"  logs            {LOG_DIR}\n"
    )
    stop_flag = [False]

    def _stop(*_):
        stop_flag[0] = True

    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt):
        follow_slack(stop_flag)
    print("\nStopping…")
    stop()


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "run"
    if command == "run":
        run()
    elif command == "stop":
        stop()
    elif command == "start-db":
        prepare_database()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
