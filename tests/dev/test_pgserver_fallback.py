"""dev/pg.py on a machine without PostgreSQL: the pgserver wheel's real PostgreSQL 16."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user_can_reach(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)]).returncode == 0


def test_pgserver_binaries_run_the_schema(tmp_path):
    pgserver = pytest.importorskip("pgserver")
    bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if not _server_user_can_reach(bindir):
        pytest.skip(f"the postgres user cannot reach {bindir} (checkout below a private directory)")
    env = {**os.environ, "NURTURE_PG_BINARIES": "pgserver", "NURTURE_PG_PORT": str(_free_port())}
    run = [sys.executable, "dev/pg.py"]
    try:
        subprocess.run(
            [*run, "createdb", "nurture_pgserver"], cwd=REPO, env=env, check=True, capture_output=True
        )
        dsn = subprocess.run(
            [*run, "dsn", "nurture_pgserver"], cwd=REPO, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        with psycopg.connect(dsn) as conn:
            assert conn.info.server_version >= 160000
            assert conn.execute("SELECT COUNT(*) FROM email_sends").fetchone() == (0,)
    finally:
        subprocess.run([*run, "stop"], cwd=REPO, env=env, capture_output=True)
