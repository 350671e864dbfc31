"""A private PostgreSQL for local runs and tests (never used by a deployment).

    python dev/pg.py start            # idempotent: a second call finds it running
    python dev/pg.py stop             # stops the server this script started (by its PID file)
    python dev/pg.py status
    python dev/pg.py createdb NAME    # creates NAME (if missing) and applies include/sql/schema
    python dev/pg.py dsn [NAME]       # prints the libpq URI

It listens on 127.0.0.1 only, on NURTURE_PG_PORT (default 54329). Binaries are found in this
order: NURTURE_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/<newest>/bin, and finally
the `pgserver` wheel (a real PostgreSQL 16 inside a pip package), installed on demand, so a
laptop with no PostgreSQL works too. initdb and pg_ctl refuse to run as root: as root the
server runs as the `postgres` user (created if missing).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "include" / "sql" / "schema"
PORT = int(os.environ.get("NURTURE_PG_PORT", "54329"))
HOST = "127.0.0.1"
SUPERUSER = "postgres"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# Local-only tuning: durability is not needed for a throwaway dev/test cluster.
SERVER_OPTIONS = [
    f"listen_addresses={HOST}",
    f"port={PORT}",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
]
# NURTURE_PG_SHARED_BUFFERS=2GB: the size `make bench SIZE=year` was measured with (README); unset,
# the server's default (128MB) is enough for tests and `make run`. Read when the server starts.
if os.environ.get("NURTURE_PG_SHARED_BUFFERS"):
    SERVER_OPTIONS.append(f"shared_buffers={os.environ['NURTURE_PG_SHARED_BUFFERS']}")
# NURTURE_PG_BINARIES=pgserver forces the embedded wheel even where PostgreSQL is installed.
FORCE_PGSERVER = os.environ.get("NURTURE_PG_BINARIES") == "pgserver"


def _run_as_server_user(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    if IS_ROOT:
        cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
    return subprocess.run(cmd, **kwargs)


def _postgres_can_traverse(path: Path) -> bool:
    """True when the postgres user can reach `path` (every parent executable for it)."""
    if not IS_ROOT:
        return True
    probe = _run_as_server_user(["test", "-x", str(path)], capture_output=True)
    return probe.returncode == 0


def data_root() -> Path:
    """Where the cluster lives: <repo>/.local/pg, or a postgres-owned folder under /tmp when the
    checkout sits below a directory the postgres user cannot enter (e.g. a 0700 mktemp dir)."""
    local = REPO / ".local"
    local.mkdir(exist_ok=True)
    suffix = "-pgserver" if FORCE_PGSERVER else ""  # a different major version needs its own cluster
    if _postgres_can_traverse(local):
        return local / f"pg{suffix}"
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:10]
    return Path(f"/tmp/nurture-ops-pg-{digest}{suffix}")


def _bindir_candidates() -> list[Path]:
    found = []
    if os.environ.get("NURTURE_PG_BINDIR"):
        found.append(Path(os.environ["NURTURE_PG_BINDIR"]))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            found.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    found.extend(Path(v) for v in versions)
    return found


def _pgserver_bindir() -> Path:
    try:
        import pgserver
    except ImportError:
        print("No PostgreSQL binaries found; installing the pgserver wheel (embedded PostgreSQL)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pgserver==0.1.4"], check=True)
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def bindir() -> Path:
    if FORCE_PGSERVER:
        return _pgserver_bindir()
    for candidate in _bindir_candidates():
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return _pgserver_bindir()


def dsn(dbname: str = "postgres") -> str:
    return f"postgresql://{SUPERUSER}@{HOST}:{PORT}/{dbname}"


def _ensure_server_user() -> None:
    if not IS_ROOT:
        return
    if subprocess.run(["id", "-u", SUPERUSER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", SUPERUSER], check=True)


def _port_open() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, PORT)) == 0


def is_running() -> bool:
    datadir = data_root() / "data"
    if not (datadir / "postmaster.pid").exists():
        return False
    status = _run_as_server_user(
        [str(bindir() / "pg_ctl"), "status", "-D", str(datadir)], capture_output=True
    )
    return status.returncode == 0


def start() -> str:
    root = data_root()
    datadir, rundir = root / "data", root / "run"
    if is_running():
        return dsn()
    if _port_open():
        sys.exit(
            f"Port {HOST}:{PORT} is taken by a server this script did not start. "
            "Stop it or choose another port with NURTURE_PG_PORT=..."
        )
    _ensure_server_user()
    bins = bindir()
    for folder in (root, rundir):
        folder.mkdir(parents=True, exist_ok=True)
        if IS_ROOT:
            shutil.chown(folder, SUPERUSER, SUPERUSER)
    if not (datadir / "PG_VERSION").exists():
        _run_as_server_user(
            [
                str(bins / "initdb"),
                "-D",
                str(datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
    server_options = [*SERVER_OPTIONS, f"unix_socket_directories={rundir}"]
    libdir = bins.parent / "lib"
    if any((d / "pg_stat_statements.so").exists() for d in (libdir, libdir / "postgresql")):
        # The weekly query review reads pg_stat_statements; the pgserver wheel does not ship it.
        server_options.append("shared_preload_libraries=pg_stat_statements")
    options = " ".join(f"-c {opt}" for opt in server_options)
    result = _run_as_server_user(
        [
            str(bins / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(datadir),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log_tail = (root / "server.log").read_text()[-2000:] if (root / "server.log").exists() else ""
        sys.exit(f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{log_tail}")
    _wait_ready()
    return dsn()


def _wait_ready(timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop() -> None:
    datadir = data_root() / "data"
    if not is_running():
        print("PostgreSQL: not running")
        return
    _run_as_server_user(
        [str(bindir() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(datadir)],
        check=True,
        capture_output=True,
    )
    print("PostgreSQL: stopped")


def schema_statements(text: str) -> list[str]:
    """The statements of a schema file, one by one, as psql sends them (comment lines dropped;
    the schema files put no semicolon inside a statement)."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in body.split(";") if statement.strip()]


def apply_schema(dbname: str, *, concurrently: bool = True) -> None:
    """Apply include/sql/schema/*.sql in name order, as `psql -v ON_ERROR_STOP=1 -f` would: each
    statement on its own in autocommit, which CREATE INDEX CONCURRENTLY (030) requires.
    concurrently=False builds those indexes the plain way (the bench, right after its bulk load:
    nothing writes then, and a plain build reads the table once instead of twice)."""
    import psycopg

    with psycopg.connect(dsn(dbname), autocommit=True) as conn:
        if not concurrently:
            conn.execute("SET maintenance_work_mem = '1GB'")
        for path in sorted(SCHEMA_DIR.glob("*.sql")):
            for statement in schema_statements(path.read_text()):
                if not concurrently:
                    statement = statement.replace(" CONCURRENTLY ", " ")
                conn.execute(statement)


def createdb(dbname: str, *, drop: bool = False) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn(), autocommit=True) as conn:
        if drop:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    apply_schema(dbname)
    return dsn(dbname)


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "status"
    if command == "start":
        print(f"PostgreSQL: running at {start()}  (data in {data_root()})")
    elif command == "stop":
        stop()
    elif command == "status":
        print(f"PostgreSQL: {'running at ' + dsn() if is_running() else 'not running'}")
        sys.exit(0 if is_running() else 1)
    elif command == "createdb":
        name = argv[1]
        start()
        print(f"Database ready: {createdb(name, drop='--drop' in argv)}")
    elif command == "dsn":
        print(dsn(argv[1] if len(argv) > 1 else "postgres"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
