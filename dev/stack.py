"""The local stack behind `make run`, `make stop` and `make db` (local use only; never imported by DAGs).

    python -m dev.stack run       # PostgreSQL (seeded), Slack sink, fake N8n, traffic simulator,
                                  # Airflow 3 (api-server + UI, scheduler, dag-processor, triggerer);
                                  # Ctrl-C, SIGTERM or `make stop` stops everything it started
    python -m dev.stack stop      # stops what `run` / `start-db` started, by PID (also a running `run`)
    python -m dev.stack start-db  # only PostgreSQL with the seeded `nurture` database (`make db`)
    python -m dev.stack status    # what is running
    python -m dev.stack env       # `export ...` lines: eval "$(python -m dev.stack env)" points
                                  # your shell's `airflow` CLI at the local stack

Everything listens on 127.0.0.1. Airflow's components are started one by one rather than with
`airflow standalone`, whose log servers bind 0.0.0.0 (hence `--skip-serve-logs`: task logs are
files under .local/airflow/logs that the api-server reads directly).

Every service runs in its own session; its PID and start time are kept in .local/run/<name>.pid.
`stop` signals the service, then every process still in its session (LocalExecutor workers, task
processes, DAG parsing processes), and nothing else: a PID file whose process has since been
replaced by an unrelated one is ignored. PostgreSQL is stopped only when this module started it
(.local/run/postgres.json); a server started by `python dev/pg.py start` or by pytest is left alone.

Ports (all on 127.0.0.1): NURTURE_AIRFLOW_PORT (8080), NURTURE_SLACK_SINK_PORT (8765),
NURTURE_FAKE_N8N_PORT (5678), NURTURE_FAKE_PAGERDUTY_PORT (8766), NURTURE_FAKE_SENDGRID_PORT (8767:
SendGrid's stats and status page), NURTURE_FAKE_SUPABASE_PORT (8768: backups), NURTURE_PG_PORT
(54329, see dev/pg.py), and with NURTURE_EXECUTOR=celery (`make run EXECUTOR=celery`)
NURTURE_REDIS_PORT (6389) for the Redis broker of dev/celery_stack.py, whose two Celery workers run
tasks instead of the LocalExecutor.

Airflow's metadata lives in the database `airflow` (METADATA_DB) of the same PostgreSQL cluster
as the lead-nurture data, created if missing and migrated by `airflow db migrate` on every start.
tests/e2e reuses airflow_env(), airflow_commands(), start_service() and end_session() to boot the
same components on free ports with a private home and metadata database.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dev import celery_stack, pg

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
RUN_DIR = LOCAL / "run"
LOG_DIR = LOCAL / "logs"
AIRFLOW_HOME = LOCAL / "airflow"
SLACK_LOG = LOCAL / "slack.jsonl"
HOST = "127.0.0.1"
API_PORT = int(os.environ.get("NURTURE_AIRFLOW_PORT", "8080"))
SINK_PORT = int(os.environ.get("NURTURE_SLACK_SINK_PORT", "8765"))
N8N_PORT = int(os.environ.get("NURTURE_FAKE_N8N_PORT", "5678"))
PAGERDUTY_PORT = int(os.environ.get("NURTURE_FAKE_PAGERDUTY_PORT", "8766"))
PAGERDUTY_LOG = LOCAL / "pagerduty.jsonl"
SENDGRID_PORT = int(os.environ.get("NURTURE_FAKE_SENDGRID_PORT", "8767"))
SUPABASE_PORT = int(os.environ.get("NURTURE_FAKE_SUPABASE_PORT", "8768"))
DEMO_DB = "nurture"
METADATA_DB = "airflow"  # Airflow's metadata, on the same cluster (psycopg 3 driver)
ADMIN_USER = "admin"
# Two cores: a handful of LocalExecutor worker processes, not the default 32.
PARALLELISM = 4
BIN = Path(sys.executable).parent
RUNNER = "stack"  # the PID file of a running `python -m dev.stack run`
PG_MARKER = "postgres.json"  # written when this module started PostgreSQL
# `make run EXECUTOR=celery` (NURTURE_EXECUTOR): CeleryExecutor with dev/celery_stack.py's Redis
# broker and two workers instead of the LocalExecutor.
EXECUTOR = os.environ.get("NURTURE_EXECUTOR") or "local"
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
WORKERS_DIR = LOCAL / "workers"  # one working directory per Celery worker, emptied on every start


def airflow_commands(api_port: int = API_PORT) -> dict[str, list[str]]:
    """The Airflow components, in start order of FIRST then the scheduler, all on 127.0.0.1."""
    return {
        "api_server": [str(BIN / "airflow"), "api-server", "-H", HOST, "-p", str(api_port), "-w", "1"],
        "scheduler": [str(BIN / "airflow"), "scheduler", "--skip-serve-logs"],
        "dag_processor": [str(BIN / "airflow"), "dag-processor"],
        "triggerer": [str(BIN / "airflow"), "triggerer", "--skip-serve-logs"],
    }


SERVICES: dict[str, list[str]] = {
    "slack_sink": [sys.executable, "-m", "dev.slack_sink", "--port", str(SINK_PORT), "--out", str(SLACK_LOG)],
    "fake_n8n": [sys.executable, "-m", "dev.fake_n8n", "--port", str(N8N_PORT), "--api-key", "local-dev-key"],
    "fake_pagerduty": [
        sys.executable,
        "-m",
        "dev.fake_pagerduty",
        "--port",
        str(PAGERDUTY_PORT),
        "--out",
        str(PAGERDUTY_LOG),
    ],
    "simulator": [sys.executable, "-m", "dev.simulate", "--dsn", pg.dsn(DEMO_DB)],
    **airflow_commands(),
    # SendGrid's stats counted from the local database (one day planted off), and its status page.
    "fake_sendgrid": [
        sys.executable,
        "-m",
        "dev.fake_sendgrid",
        "--port",
        str(SENDGRID_PORT),
        "--dsn",
        pg.dsn(DEMO_DB),
        "--plant",
    ],
    "fake_supabase": [sys.executable, "-m", "dev.fake_supabase", "--port", str(SUPABASE_PORT)],
}
# Started at once. The scheduler waits until the api-server answers and the connections are
# imported: its LocalExecutor workers run tasks, which call the execution API and read connections.
FIRST = (
    "slack_sink",
    "fake_n8n",
    "fake_pagerduty",
    "fake_sendgrid",
    "fake_supabase",
    "simulator",
    "api_server",
    "dag_processor",
    "triggerer",
)
# The scheduler first (no new task starts), the api-server after the components that call it.
STOP_ORDER = (
    "scheduler",
    *celery_stack.WORKERS,
    "triggerer",
    "dag_processor",
    "api_server",
    celery_stack.REDIS,
    "simulator",
    "fake_pagerduty",
    "fake_sendgrid",
    "fake_supabase",
    "fake_n8n",
    "slack_sink",
)
PORTS = {
    "api_server": (API_PORT, "NURTURE_AIRFLOW_PORT"),
    "slack_sink": (SINK_PORT, "NURTURE_SLACK_SINK_PORT"),
    "fake_n8n": (N8N_PORT, "NURTURE_FAKE_N8N_PORT"),
    "fake_pagerduty": (PAGERDUTY_PORT, "NURTURE_FAKE_PAGERDUTY_PORT"),
    "fake_sendgrid": (SENDGRID_PORT, "NURTURE_FAKE_SENDGRID_PORT"),
    "fake_supabase": (SUPABASE_PORT, "NURTURE_FAKE_SUPABASE_PORT"),
}
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
if EXECUTOR == "celery":
    SERVICES[celery_stack.REDIS] = celery_stack.redis_command(celery_stack.REDIS_PORT, LOCAL / "redis")
    SERVICES.update(
        {name: celery_stack.worker_command(name, WORKERS_DIR / name) for name in celery_stack.WORKERS}
    )
    FIRST = (celery_stack.REDIS, *FIRST)  # the scheduler's executor connects to it on start
    PORTS[celery_stack.REDIS] = (celery_stack.REDIS_PORT, "NURTURE_REDIS_PORT")


class Interrupted(Exception):
    """SIGTERM or SIGHUP reached `run`: stop everything, like Ctrl-C."""


# -- Airflow configuration -------------------------------------------------------------------------


def jwt_secret(home: Path | None = None) -> str:
    """The secret every Airflow component signs and checks JWTs with (task identity tokens, UI/API
    tokens). Components that disagree on it fail every task with 403s; it is created once (64
    random bytes, as HS512 wants) and kept in .local/airflow/jwt_secret (mode 600)."""
    home = home or AIRFLOW_HOME
    path = home / "jwt_secret"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(64) + "\n")
    return path.read_text().strip()


def metadata_url(dbname: str = METADATA_DB) -> str:
    """SQLAlchemy URL of Airflow's metadata database on dev/pg.py's cluster (psycopg 3 driver)."""
    return f"postgresql+psycopg://{pg.SUPERUSER}@{pg.HOST}:{pg.PORT}/{dbname}"


def ensure_metadata_db(dbname: str = METADATA_DB) -> None:
    """Create the (empty) metadata database if missing; `airflow db migrate` fills it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def note_old_sqlite() -> None:
    """Tell a user of an older checkout, once, that .local/airflow/airflow.db is no longer used."""
    old = AIRFLOW_HOME / "airflow.db"  # where metadata lived before; kept, never read
    shown = AIRFLOW_HOME / ".sqlite-notice-shown"
    if not old.exists() or shown.exists():
        return
    print(
        f"  note: Airflow's metadata now lives in PostgreSQL ({metadata_url()}); the old SQLite"
        f" database {old} is no longer used (connections, variables and run history start afresh"
        " in PostgreSQL). Delete it whenever you like.",
        flush=True,
    )
    shown.write_text("shown\n")


def airflow_env(
    *,
    home: Path | None = None,
    api_port: int | None = None,
    sink_port: int | None = None,
    n8n_port: int | None = None,
    metadata_db: str = METADATA_DB,
    executor: str | None = None,
    redis_port: int | None = None,
    concurrency: int | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of the local stack (and of your CLI calls).
    tests/e2e passes its own home, ports, metadata database and executor ("local" or "celery",
    default EXECUTOR); the Celery settings come from dev/celery_stack.py."""
    home = home or AIRFLOW_HOME
    api_port = api_port or API_PORT
    sink_port = sink_port or SINK_PORT
    n8n_port = n8n_port or N8N_PORT
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://{HOST}:{api_port}",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET")
            or jwt_secret(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(metadata_db),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(home)),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # The scheduler's health-check server would listen on 0.0.0.0:8974.
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # Read by airflow_settings.yaml (dev/settings.py) for the local connections.
            "NURTURE_SLACK_SINK_PORT": str(sink_port),
            "NURTURE_FAKE_N8N_PORT": str(n8n_port),
            "NURTURE_FAKE_PAGERDUTY_PORT": os.environ.get("NURTURE_FAKE_PAGERDUTY_PORT", str(PAGERDUTY_PORT)),
            "NURTURE_FAKE_SENDGRID_PORT": str(SENDGRID_PORT),
            "NURTURE_FAKE_SUPABASE_PORT": str(SUPABASE_PORT),
            "NURTURE_PG_PORT": str(pg.PORT),
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        }
    )
    if (executor or EXECUTOR) == "celery":
        env.update(
            celery_stack.celery_env(
                metadata_url(metadata_db),
                redis_port or celery_stack.REDIS_PORT,
                concurrency or celery_stack.CONCURRENCY,
            )
        )
    return env


def env_exports() -> str:
    """`export K='V'` lines for what airflow_env() sets, so your shell's `airflow` CLI talks to the
    local stack: eval "$(.venv/bin/python -m dev.stack env)"."""
    env = airflow_env()
    keys = [k for k in env if k.startswith(("AIRFLOW", "NURTURE_")) or k == "PYTHONPATH"]
    return "".join(f"export {key}={shlex.quote(env[key])}\n" for key in sorted(keys))


def passwords_file(home: Path | None = None) -> Path:
    """Where the simple auth manager keeps the generated password of ADMIN_USER."""
    return (home or AIRFLOW_HOME) / "simple_auth_manager_passwords.json.generated"


def login(home: Path | None = None) -> tuple[str, str | None]:
    """(user, password) for the UI; the api-server generates the password on its first start."""
    try:
        return ADMIN_USER, json.loads(passwords_file(home).read_text())[ADMIN_USER]
    except (OSError, ValueError, KeyError):
        return ADMIN_USER, None


# -- processes -------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _ps(pid: int, field: str) -> str | None:
    out = subprocess.run(["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True)
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def start_time(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot on Linux); None if there is no such process.
    Together with the PID it identifies a process: a recycled PID has another start time."""
    if Path("/proc/self/stat").exists():
        fields = _stat(pid)
        return fields[19] if fields else None
    return _ps(pid, "lstart")


def _is_zombie(pid: int) -> bool:
    if Path("/proc/self/stat").exists():
        fields = _stat(pid)
        return fields is None or fields[0] in ("Z", "X")
    state = _ps(pid, "stat")
    return state is None or state.startswith("Z")


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a dead child its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _is_zombie(pid)


def _all_pids() -> list[int]:
    if Path("/proc/self/stat").exists():
        return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    out = subprocess.run(["ps", "-A", "-o", "pid="], capture_output=True, text=True, check=True)
    return [int(word) for word in out.stdout.split()]


def session_members(sid: int) -> list[int]:
    """Live processes of session `sid`: a service and everything it forked, including children
    that moved to a process group of their own (Airflow's task processes do)."""
    members = []
    for pid in _all_pids():
        try:
            if os.getsid(pid) != sid:
                continue
        except OSError:
            continue
        if alive(pid):
            members.append(pid)
    return members


def _pidfile(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _write_record(name: str, pid: int) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _pidfile(name).write_text(json.dumps({"pid": pid, "started": start_time(pid)}) + "\n")


def _read_record(name: str) -> dict | None:
    try:
        text = _pidfile(name).read_text().strip()
    except OSError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    # A record without a start time (e.g. a bare PID) cannot prove the process is still ours.
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int) or record["pid"] <= 0:
        return None
    if not record.get("started"):
        return None
    return record


def _is_same_process(record: dict) -> bool:
    return start_time(record["pid"]) == record["started"]


def service_pid(name: str) -> int | None:
    """The PID of service `name` (or of the runner, RUNNER) if it is running, else None."""
    record = _read_record(name)
    if record and _is_same_process(record) and alive(record["pid"]):
        return record["pid"]
    return None


def start_service(
    name: str,
    env: dict[str, str],
    *,
    command: list[str] | None = None,
    log_dir: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start service `name` in a session of its own (in `cwd`, default the repository). With
    `command` and `log_dir` (tests/e2e) no PID file is written: the caller ends the session itself
    (end_session(proc.pid))."""
    log_dir = log_dir or LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log:
        # A session of its own: Ctrl-C in the terminal does not reach it (`run` stops the services
        # in order), and `stop` finds every process it forked by the session id.
        proc = subprocess.Popen(
            command or SERVICES[name],
            cwd=cwd or REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if command is None:
        _write_record(name, proc.pid)
    print(f"  {name}: started (pid {proc.pid}, log {log_dir / (name + '.log')})", flush=True)
    return proc


def _wait_gone(sid: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = session_members(sid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def end_session(sid: int, timeout: float = 20.0) -> list[int]:
    """End every process of session `sid`; returns the PIDs that would not die (normally none).

    SIGTERM to the leader's process group first (Airflow stops its workers and tasks itself),
    then SIGTERM, and after 5 s SIGKILL, to whatever is left in the session."""
    if alive(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = session_members(sid)
    if left:
        _signal_all(left, signal.SIGTERM)
        left = _wait_gone(sid, 5.0)
    if left:
        _signal_all(left, signal.SIGKILL)
        left = _wait_gone(sid, 5.0)
    return left


def stop_service(name: str, timeout: float = 20.0) -> bool:
    """Stop service `name` and every process of its session; True if anything was running."""
    record = _read_record(name)
    if record is None:
        _pidfile(name).unlink(missing_ok=True)
        return False
    sid = record["pid"]
    if start_time(sid) is not None and not _is_same_process(record):
        # The PID now belongs to another program (e.g. after a reboot): not ours to stop.
        _pidfile(name).unlink(missing_ok=True)
        return False
    if not session_members(sid):
        _pidfile(name).unlink(missing_ok=True)
        return False
    left = end_session(sid, timeout)
    _pidfile(name).unlink(missing_ok=True)
    note = f" ({len(left)} process(es) would not die: {left})" if left else ""
    print(f"  {name}: stopped{note}", flush=True)
    return True


def stop_services() -> bool:
    stopped = False
    for name in STOP_ORDER:
        stopped |= stop_service(name)
    return stopped


# -- PostgreSQL ------------------------------------------------------------------------------------


def _postmaster_pid() -> int | None:
    """The PID of the running dev/pg.py server, from its postmaster.pid, if it is alive."""
    try:
        first = (pg.data_root() / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first.strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def start_database() -> None:
    """Start dev/pg.py's server if needed (remembering that we started it) and seed `nurture`."""
    was_running = pg.is_running()
    pg.start()
    if not was_running:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        postmaster = _postmaster_pid()
        record = {
            "pid": postmaster,
            "started": start_time(postmaster) if postmaster else None,
            "dsn": pg.dsn(),
        }
        (RUN_DIR / PG_MARKER).write_text(json.dumps(record) + "\n")
        print(f"  postgresql: started (pid {postmaster}, {pg.dsn()})", flush=True)
    else:
        print(f"  postgresql: already running ({pg.dsn()})", flush=True)
    pg.createdb(DEMO_DB)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    manifest = LOG_DIR / "seed-manifest.json"  # what the seed planted (ids, expected numbers)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dev.seed",
            "--dsn",
            pg.dsn(DEMO_DB),
            "--if-empty",
            "--manifest",
            str(manifest),
        ],
        cwd=REPO,
        check=True,
    )
    _warn_if_unseeded()


def _warn_if_unseeded() -> None:
    import psycopg

    with psycopg.connect(pg.dsn(DEMO_DB)) as conn:
        active = conn.execute(
            "SELECT COUNT(*) FROM lead_campaign_enrollments WHERE status = 'active'"
        ).fetchone()[0]
    if not active:
        print(
            f"  warning: database {DEMO_DB!r} has no active enrollments, so the simulator has nothing to"
            " send. `make reseed` replaces it with the demo data.",
            flush=True,
        )


def stop_database() -> bool:
    """Stop PostgreSQL if start_database() started it; a server started otherwise is left alone."""
    marker = RUN_DIR / PG_MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        recorded = None
    running = _postmaster_pid()
    marker.unlink(missing_ok=True)
    if running is None:
        return False
    ours = (
        isinstance(recorded, dict)
        and recorded.get("pid") == running
        and recorded.get("started") in (None, start_time(running))
    )
    if not ours:
        print(
            f"  postgresql: left running (pid {running}; not started by make run/make db;"
            " `.venv/bin/python dev/pg.py stop` stops it)",
            flush=True,
        )
        return False
    pg.stop()
    return True


# -- the whole stack -------------------------------------------------------------------------------


def stop(runner_timeout: float = 120.0) -> None:
    """Stop a running `run` (it cleans up after itself), then anything still recorded: services
    by session, PostgreSQL if this module started it. Nothing running: prints so, changes nothing."""
    runner = service_pid(RUNNER)
    stopped = False
    if runner and runner != os.getpid():
        print(f"Stopping `make run` (pid {runner})…", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner, signal.SIGTERM)
        deadline = time.monotonic() + runner_timeout
        while alive(runner) and time.monotonic() < deadline:
            time.sleep(0.3)
        if alive(runner):  # stuck in its clean-up: the pass below does the rest
            print(
                f"  `make run` (pid {runner}) did not exit in {runner_timeout:.0f} s; killing it", flush=True
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, signal.SIGKILL)
        stopped = True
    stopped |= stop_services()
    stopped |= stop_database()
    if service_pid(RUNNER) in (None, os.getpid()):
        _pidfile(RUNNER).unlink(missing_ok=True)
    print("Stopped." if stopped else "Nothing to stop.", flush=True)


def status() -> int:
    """Print what runs; returns the number of running services."""
    running = 0
    for name in (RUNNER, *SERVICES, *(name for name in STOP_ORDER if name not in SERVICES)):
        pid = service_pid(name)
        if pid and name != RUNNER:
            running += 1
        label = "make run" if name == RUNNER else name
        print(f"  {label:14} {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    print(f"  {'postgresql':14} {'running at ' + pg.dsn() if pg.is_running() else 'not running'}")
    return running


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def check_ports() -> None:
    """Fail early, with the variable to change, when another program holds one of our ports."""
    for name, (port, variable) in PORTS.items():
        if _port_taken(port):
            raise SystemExit(
                f"{HOST}:{port} ({name}) is in use by another program: stop it, or choose another port,"
                f" e.g. `{variable}={port + 1} make run`"
            )


def _log_tail(name: str, lines: int = 15, log_dir: Path | None = None) -> str:
    try:
        path = (log_dir or LOG_DIR) / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _check_alive(procs: dict[str, subprocess.Popen], log_dir: Path | None = None) -> None:
    log_dir = log_dir or LOG_DIR
    for name, proc in procs.items():
        code = proc.poll()
        if code is not None:
            raise SystemExit(
                f"{name} exited with code {code} during start-up; end of {log_dir / (name + '.log')}:\n"
                + _log_tail(name, log_dir=log_dir)
            )


def health(port: int | None = None) -> dict | None:
    url = f"http://{HOST}:{port or API_PORT}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None


def healthy_report(port: int | None = None) -> dict | None:
    report = health(port)
    return report if is_healthy(report) else None


def is_healthy(report: dict | None) -> bool:
    """Every component of /api/v2/monitor/health says "healthy"."""
    return bool(report) and all(
        (report.get(component) or {}).get("status") == "healthy" for component in HEALTH_COMPONENTS
    )


def wait_for(
    check, procs: dict[str, subprocess.Popen], what: str, timeout: float = 180.0, log_dir: Path | None = None
):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        _check_alive(procs, log_dir)
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{what} did not happen within {timeout:.0f} s; see the logs in {log_dir or LOG_DIR}"
            )
        time.sleep(0.5)


def follow_slack(procs: dict[str, subprocess.Popen]) -> None:
    """Print each message the sink receives (and any service that dies) until interrupted."""
    SLACK_LOG.parent.mkdir(parents=True, exist_ok=True)
    SLACK_LOG.touch()
    reported: set[str] = set()
    buffer = ""
    with SLACK_LOG.open() as stream:
        stream.seek(0, os.SEEK_END)
        while True:
            chunk = stream.readline()
            if chunk:
                buffer += chunk
                if not buffer.endswith("\n"):
                    continue  # the sink is still writing this line
                line, buffer = buffer, ""
                try:
                    payload = json.loads(line).get("payload", {})
                    text = str(payload.get("text", ""))
                except (ValueError, AttributeError):
                    continue
                print(f"  slack ← {text.splitlines()[0][:160] if text else '(blocks only)'}", flush=True)
                continue
            for name, proc in procs.items():
                if name not in reported and proc.poll() is not None:
                    reported.add(name)
                    print(
                        f"  ! {name} exited (code {proc.returncode}); see {LOG_DIR / (name + '.log')}."
                        " `make stop` then `make run` restarts the stack.",
                        flush=True,
                    )
            time.sleep(0.5)


def _interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def _start(name: str, env: dict[str, str]) -> subprocess.Popen:
    """start_service(), a Celery worker in its own fresh working directory with its own env."""
    if name in celery_stack.WORKERS:
        workdir = celery_stack.fresh_workdir(WORKERS_DIR, name)
        return start_service(name, celery_stack.worker_env(env, name, workdir), cwd=workdir)
    return start_service(name, env)


def _executor_line() -> str:
    if EXECUTOR != "celery":
        return f"LocalExecutor, parallelism {PARALLELISM}"
    return (
        f"CeleryExecutor: broker {celery_stack.broker_url()}, results in"
        f" {celery_stack.result_backend(metadata_url())},"
        f" workers {', '.join(celery_stack.WORKERS)} ({celery_stack.CONCURRENCY} slots each, queue"
        f" {celery_stack.QUEUE!r}, working directories in {WORKERS_DIR})"
    )


def run() -> None:
    other = service_pid(RUNNER)
    if other and other != os.getpid():
        raise SystemExit(f"The stack is already running (`make run`, pid {other}); `make stop` ends it.")
    began = time.monotonic()
    _write_record(RUNNER, os.getpid())
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup, keep ignoring it
        signal.signal(signal.SIGHUP, _interrupt)
    procs: dict[str, subprocess.Popen] = {}
    env: dict[str, str] = {}
    helpers: list[subprocess.Popen] = []  # one-off Airflow CLI calls, ended on Ctrl-C as well

    def helper(*args: str) -> subprocess.Popen:
        # A session of its own, like the services: Ctrl-C reaches only `run`, which ends it. Its
        # temporary files go to .local/tmp, so an interrupted import leaves nothing in /tmp.
        (LOCAL / "tmp").mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            env={**env, "TMPDIR": str(LOCAL / "tmp")},
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        helpers.append(proc)
        return proc

    try:
        print("Lead-nurture ops: starting the local stack (Ctrl-C or `make stop` ends it)", flush=True)
        if stop_services():  # leftovers of a `run` that was killed without cleaning up
            print("  (stopped the leftovers of an earlier run)", flush=True)
        if EXECUTOR not in EXECUTORS:
            raise SystemExit(
                f"EXECUTOR={EXECUTOR!r}: choose one of {', '.join(EXECUTORS)} (`make run EXECUTOR=celery`)"
            )
        check_ports()
        start_database()
        ensure_metadata_db()
        note_old_sqlite()
        env.update(airflow_env())
        print(f"  airflow: migrating the metadata database ({metadata_url()})", flush=True)
        if helper(str(BIN / "airflow"), "db", "migrate").wait() != 0:
            raise SystemExit("`airflow db migrate` failed; see the messages above")
        print("  airflow: importing connections, variables and pools from airflow_settings.yaml", flush=True)
        # Three Airflow CLI calls (~8 s): run them while the api-server starts.
        importer = helper(sys.executable, "-m", "dev.settings", "import")
        for name in FIRST:
            procs[name] = _start(name, env)
        wait_for(health, procs, "the api-server answering")
        if importer.wait() != 0:
            raise SystemExit(f"importing airflow_settings.yaml failed (exit code {importer.returncode})")
        for name in SERVICES:
            if name not in procs:
                procs[name] = _start(name, env)
        report = wait_for(healthy_report, procs, "every component healthy")
        if EXECUTOR == "celery":
            wait_for(celery_stack.workers_ready, procs, "both Celery workers answering")
        user, password = login()
        statuses = ", ".join(f"{c} {report[c]['status']}" for c in HEALTH_COMPONENTS)
        print(
            f"\nReady after {time.monotonic() - began:.0f} s.\n"
            f"  Airflow UI      http://{HOST}:{API_PORT}\n"
            f"  log in as       user {user!r}, password {password!r}"
            f"{'' if password else ' (not generated yet)'}  (from {passwords_file()})\n"
            f"  health          {statuses}\n"
            f"  executor        {_executor_line()}\n"
            f"  lead-nurture DB {pg.dsn(DEMO_DB)}\n"
            f"  Slack messages  {SLACK_LOG} (and below)\n"
            f"  PagerDuty       {PAGERDUTY_LOG} (the stand-in on http://{HOST}:{PAGERDUTY_PORT}/v2/enqueue)\n"
            f"  logs            {LOG_DIR}, task logs in {AIRFLOW_HOME / 'logs'}\n"
            "Ctrl-C or `make stop` stops everything.\n",
            flush=True,
        )
        follow_slack(procs)
    except (KeyboardInterrupt, Interrupted):
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        print("\nStopping…", flush=True)
        for proc in helpers:
            if proc.poll() is None:
                end_session(proc.pid, timeout=5.0)
            proc.wait()
        stop_services()
        stop_database()
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        _pidfile(RUNNER).unlink(missing_ok=True)
        print("Stopped.", flush=True)


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "run"
    if command == "run":
        run()
    elif command == "stop":
        stop()
    elif command == "start-db":
        start_database()
        print(f"PostgreSQL: {pg.dsn(DEMO_DB)}  (`make stop` stops it)")
    elif command == "status":
        status()
    elif command == "env":
        sys.stdout.write(env_exports())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
