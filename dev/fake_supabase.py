"""A local stand-in for Supabase's Management API backups endpoint (never used by a deployment).

    python -m dev.fake_supabase --port 8768 [--token T] [--project-ref R] [--pidfile F] [--quiet]

It listens on 127.0.0.1 only and answers the call nurture_ops.integrations.supabase makes, the
way Supabase does:

    GET /v1/projects/{ref}/database/backups
        -> {"region": "eu-central-1", "walg_enabled": true, "pitr_enabled": false,
            "backups": [{"is_physical_backup": true, "status": "COMPLETED",
                         "inserted_at": "2026-11-30T02:00:03.000Z"}, ...],
            "physical_backup_data": {}}
    GET /healthz -> {"status": "ok"}

It needs `Authorization: Bearer <token>` (else 401 {"message": "Unauthorized"}); another project
ref gets 404 {"message": "Project not found"}. Without explicit backups it serves a daily backup
at 02:00 UTC for each of the last 7 days, relative to the time of the request. To misbehave:
`fail_next(n, status)`, `delay_s` (client timeouts), `body` (a canned answer, e.g. malformed).

    AIRFLOW_CONN_SUPABASE_API='{"conn_type": "http", "host": "http://127.0.0.1:8768",
        "password": "dev-supabase-token", "extra": {"project_ref": "devprojectref"}}'
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from dev.loopback_server import HOST, LoopbackServer, QuietHandler, cli_parser, serve_until_signalled

DEFAULT_PORT = int(os.environ.get("NURTURE_FAKE_SUPABASE_PORT", "8768"))
DEV_TOKEN = "dev-supabase-token"  # a local dummy, not a secret
DEV_PROJECT_REF = "devprojectref"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def backup(inserted_at: datetime, status: str = "COMPLETED") -> dict:
    return {"is_physical_backup": True, "status": status, "inserted_at": iso(inserted_at)}


def daily_backups(now: datetime, days: int = 7) -> list[dict]:
    """A completed backup at 02:00 UTC on each of the last `days` days (newest first)."""
    first = now.replace(hour=2, minute=0, second=3, microsecond=0)
    if first > now:
        first -= timedelta(days=1)
    return [backup(first - timedelta(days=i)) for i in range(days)]


class FakeSupabase(LoopbackServer):
    thread_name = "fake-supabase"

    def __init__(
        self,
        *,
        port: int = 0,
        token: str = DEV_TOKEN,
        project_ref: str = DEV_PROJECT_REF,
        backups: list[dict] | None = None,
        pitr_enabled: bool = False,
        physical_backup_data: dict | None = None,
        quiet: bool = True,
    ):
        super().__init__(port)
        self.token = token
        self.project_ref = project_ref
        self.backups = backups  # None: daily backups relative to the request's time
        self.pitr_enabled = pitr_enabled
        self.physical_backup_data = physical_backup_data or {}
        self.delay_s = 0.0
        self.body: str | None = None  # a canned answer instead of the real one
        self.quiet = quiet
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []

    def handler_class(self):
        return _make_handler(self)

    def connection_json(self, token: str | None = None, project_ref: str | None = None) -> str:
        return json.dumps(
            {
                "conn_type": "http",
                "host": f"http://{HOST}:{self.port}",
                "password": token if token is not None else self.token,
                "extra": {"project_ref": project_ref if project_ref is not None else self.project_ref},
            }
        )

    def answer(self) -> dict[str, Any]:
        return {
            "region": "eu-central-1",
            "walg_enabled": True,
            "pitr_enabled": self.pitr_enabled,
            "backups": self.backups if self.backups is not None else daily_backups(datetime.now(UTC)),
            "physical_backup_data": self.physical_backup_data,
        }

    def handle(self, method: str, raw_path: str, headers) -> tuple[int, str]:
        path = urlsplit(raw_path).path.rstrip("/")
        with self.lock:
            self.calls.append((method, path))
            self.headers.append(dict(headers.items()))
        if path == "/healthz":
            return 200, json.dumps({"status": "ok"})
        if self.delay_s:
            time.sleep(self.delay_s)
        failure = self.take_failure()
        if failure is not None:
            return failure, json.dumps({"message": f"injected failure {failure}"})
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, json.dumps({"message": "Unauthorized"})
        parts = [unquote(p) for p in path.split("/")]
        if len(parts) != 6 or parts[1:3] != ["v1", "projects"] or parts[4:] != ["database", "backups"]:
            return 404, json.dumps({"message": "Cannot GET " + path})
        if parts[3] != self.project_ref:
            return 404, json.dumps({"message": "Project not found"})
        if self.body is not None:
            return 200, self.body
        return 200, json.dumps(self.answer())


def _make_handler(fake: FakeSupabase) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "nurture-fake-supabase/1"

        def do_GET(self) -> None:
            status, body = fake.handle("GET", self.path, self.headers)
            self.reply(status, body, "application/json")
            if not fake.quiet:
                print(f"fake supabase GET {self.path} -> {status}", flush=True)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser(
        "python -m dev.fake_supabase", __doc__, DEFAULT_PORT, "do not print a line per request"
    )
    parser.add_argument("--token", default=DEV_TOKEN)
    parser.add_argument("--project-ref", default=DEV_PROJECT_REF)
    args = parser.parse_args(argv)
    fake = FakeSupabase(port=args.port, token=args.token, project_ref=args.project_ref, quiet=args.quiet)
    return serve_until_signalled(
        fake,
        "fake supabase",
        args.pidfile,
        lambda: [
            f"fake supabase listening on {fake.url}/v1/projects/{fake.project_ref}/database/backups",
            f"  AIRFLOW_CONN_SUPABASE_API='{fake.connection_json()}'",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
