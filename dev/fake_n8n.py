"""A local stand-in for N8n's public REST API v1 (never used by a deployment).

    python -m dev.fake_n8n --port 5678 [--api-key KEY] [--pidfile F]

It listens on 127.0.0.1 only and answers the calls nurture_ops.n8n makes, the way N8n does:

    GET  /api/v1/workflows?limit=N&cursor=C[&active=true|false][&name=...]
         -> {"data": [...], "nextCursor": "<opaque>" | null}   (limit 1..250, default 100)
    GET  /api/v1/workflows/{id}              -> the workflow, or 404 {"message": "Not Found"}
    POST /api/v1/workflows/{id}/deactivate   -> the workflow with active=false
    POST /api/v1/workflows/{id}/activate     -> the workflow with active=true
    GET  /api/v1/executions?status=S&limit=N&cursor=C[&workflowId=W]
         -> {"data": [...], "nextCursor": "<opaque>" | null}   (status: canceled, error, running,
            success, waiting; without it every execution)
    POST /_backlog?waiting=N[&running=M]     -> (local only, no key) replace the unfinished
         executions with N waiting and M running ones: raises or clears the queue backlog
    GET  /healthz                            -> {"status": "ok"} (no key needed)

Every /api/ call needs the header X-N8N-API-KEY; without it N8n answers 401
{"message": "'X-N8N-API-KEY' header required"}, with a wrong one 401 {"message": "unauthorized"}.
Workflows live in memory (the constructor's list), so a test can change them between calls.
To misbehave like a real N8n sometimes does: `fail_next(n, status)` answers the next n /api/ calls
with that status (e.g. 503, or 429 with Retry-After: 1), `delay_s` makes every /api/ call wait
that long before answering (client timeouts), `repeat_cursor` hands out the same cursor forever.

Point Airflow at it with the JSON connection form:

    AIRFLOW_CONN_N8N_API='{"conn_type": "http", "host": "http://127.0.0.1", "port": 5678,
        "password": "dev-n8n-api-key"}'

In tests::

    n8n = FakeN8n([make_workflow("1", "Lead Nurture - Email Sender")], port=0).start()
    n8n.url, n8n.calls, n8n.queries, n8n.headers, n8n.workflows, n8n.connection_json()
    n8n.fail_next(1, 503)   # the next /api/ call gets a 503 (recorded in n8n.calls all the same)
    n8n.set_backlog(waiting=150, running=3)   # the execution queue "Scale N8n" watches
    n8n.stop()
"""

from __future__ import annotations

import base64
import copy
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dev.loopback_server import HOST, LoopbackServer, QuietHandler, cli_parser, serve_until_signalled

DEFAULT_PORT = int(os.environ.get("NURTURE_FAKE_N8N_PORT", "5678"))
DEV_API_KEY = "dev-n8n-api-key"  # a local dummy, not a secret
DEFAULT_LIMIT = 100
MAX_LIMIT = 250

DEMO_WORKFLOW_NAMES = (
    "Lead Nurture - Message Scheduler",
    "Lead Nurture - Email Sender",
    "Lead Nurture - Event Tracker",
    "Lead Nurture - Analytics Updater",
    "Lead Nurture - Content Personalizer",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_workflow(
    workflow_id: str, name: str, *, active: bool = True, nodes: list[dict] | None = None
) -> dict:
    """A workflow object shaped like N8n's (id, name, active, nodes, connections, settings, ...)."""
    stamp = "2025-10-01T09:00:00.000Z"
    return {
        "id": str(workflow_id),
        "name": name,
        "active": active,
        "createdAt": stamp,
        "updatedAt": stamp,
        "versionId": f"00000000-0000-4000-8000-{int.from_bytes(str(workflow_id).encode()[:6], 'big'):012x}",
        "nodes": nodes
        if nodes is not None
        else [
            {
                "id": f"{workflow_id}-trigger",
                "name": "Schedule Trigger",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": 1.2,
                "position": [0, 0],
                "parameters": {"rule": {"interval": [{"field": "minutes", "minutesInterval": 1}]}},
            }
        ],
        "connections": {},
        "settings": {"executionOrder": "v1"},
        "staticData": None,
        "tags": [{"id": "lead-nurture", "name": "lead-nurture"}],
    }


EXECUTION_STATUSES = ("canceled", "error", "running", "success", "waiting")
# The demo's queue: short (the runbook's trigger is > 100), a few finished ones around it.
DEMO_BACKLOG = {"waiting": 4, "running": 2}


def make_execution(execution_id: int, status: str, workflow_id: str = "wf02") -> dict:
    """An execution object shaped like N8n's public API list item (includeData=false)."""
    finished = status in ("success", "error", "canceled")
    return {
        "id": str(execution_id),
        "finished": status == "success",
        "mode": "trigger",
        "retryOf": None,
        "retrySuccessId": None,
        "startedAt": "2025-10-01T09:00:00.000Z",
        "stoppedAt": "2025-10-01T09:00:02.000Z" if finished else None,
        "workflowId": workflow_id,
        "waitTill": None,
        "status": status,
    }


def demo_executions(
    waiting: int = DEMO_BACKLOG["waiting"], running: int = DEMO_BACKLOG["running"]
) -> list[dict]:
    statuses = ["success"] * 20 + ["error"] * 2 + ["waiting"] * waiting + ["running"] * running
    return [make_execution(i, status) for i, status in enumerate(statuses, start=1)]


def demo_workflows() -> list[dict]:
    return [make_workflow(f"wf{i:02d}", name) for i, name in enumerate(DEMO_WORKFLOW_NAMES, start=1)]


def _encode_cursor(offset: int, limit: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset, "limit": limit}).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(data["offset"]), int(data["limit"])
    except (ValueError, KeyError, TypeError):
        return None


class FakeN8n(LoopbackServer):
    """An HTTP server on 127.0.0.1 speaking the part of N8n's API v1 that nurture_ops uses."""

    thread_name = "fake-n8n"

    def __init__(
        self,
        workflows: list[dict] | None = None,
        *,
        port: int = 0,
        api_key: str = DEV_API_KEY,
        repeat_cursor: bool = False,
        delay_s: float = 0.0,
        quiet: bool = True,
        executions: list[dict] | None = None,
    ):
        self.workflows: list[dict] = list(workflows) if workflows is not None else demo_workflows()
        self.executions: list[dict] = list(executions) if executions is not None else demo_executions()
        self.api_key = api_key
        self.calls: list[tuple[str, str]] = []  # (method, path without query), authorised or not
        self.queries: list[dict[str, list[str]]] = []  # the query of each call, same order
        self.headers: list[dict[str, str]] = []  # the request headers of each call, same order
        self.repeat_cursor = repeat_cursor  # misbehave: always hand out the first page's cursor
        self.delay_s = delay_s  # misbehave: wait this long before answering an /api/ call
        self.quiet = quiet
        super().__init__(port)
        self.lock = threading.Lock()

    def handler_class(self):
        return _make_handler(self)

    def connection_json(self, api_key: str | None = None) -> str:
        """The Airflow connection (JSON form, conn_type http) pointing at this server."""
        return json.dumps(
            {
                "conn_type": "http",
                "host": f"http://{HOST}",
                "port": self.port,
                "password": api_key if api_key is not None else self.api_key,
            }
        )

    # -- test helpers ----------------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> dict | None:
        with self.lock:
            return next((wf for wf in self.workflows if str(wf.get("id")) == str(workflow_id)), None)

    def calls_to(self, method: str, path: str) -> int:
        return sum(1 for call in self.calls if call == (method, path))

    def set_backlog(self, waiting: int = 0, running: int = 0) -> None:
        """Replace the unfinished executions with `waiting` waiting and `running` running ones."""
        with self.lock:
            done = [e for e in self.executions if e["status"] not in ("waiting", "running")]
            start = max((int(e["id"]) for e in self.executions), default=0) + 1
            fresh = ["waiting"] * waiting + ["running"] * running
            self.executions = done + [make_execution(start + i, st) for i, st in enumerate(fresh)]

    def backlog(self) -> dict[str, int]:
        with self.lock:
            return {st: sum(1 for e in self.executions if e["status"] == st) for st in ("waiting", "running")}

    # -- API (called from server threads) --------------------------------------------------------

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        raw_limit = query.get("limit", [str(DEFAULT_LIMIT)])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return 400, {"message": f"request/query/limit must be an integer between 1 and {MAX_LIMIT}"}
        limit, offset = int(raw_limit), 0
        if query.get("cursor"):
            decoded = _decode_cursor(query["cursor"][0])
            if decoded is None:
                return 400, {"message": "An invalid cursor was provided"}
            offset, limit = decoded
        with self.lock:
            matching = list(self.workflows)
        if "active" in query:
            wanted = query["active"][0].lower() == "true"
            matching = [wf for wf in matching if bool(wf.get("active")) == wanted]
        if "name" in query:
            matching = [wf for wf in matching if wf.get("name") == query["name"][0]]
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        next_offset = limit if self.repeat_cursor else offset + limit
        return 200, {
            "data": copy.deepcopy(page),
            "nextCursor": _encode_cursor(next_offset, limit) if more or self.repeat_cursor else None,
        }

    def _list_executions(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        raw_limit = query.get("limit", [str(DEFAULT_LIMIT)])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return 400, {"message": f"request/query/limit must be an integer between 1 and {MAX_LIMIT}"}
        status = query.get("status", [None])[0]
        if status is not None and status not in EXECUTION_STATUSES:
            return 400, {
                "message": f"request/query/status must be equal to one of the allowed values: {', '.join(EXECUTION_STATUSES)}"
            }
        limit, offset = int(raw_limit), 0
        if query.get("cursor"):
            decoded = _decode_cursor(query["cursor"][0])
            if decoded is None:
                return 400, {"message": "An invalid cursor was provided"}
            offset, limit = decoded
        with self.lock:
            matching = [e for e in self.executions if status is None or e["status"] == status]
        if "workflowId" in query:
            matching = [e for e in matching if e["workflowId"] == query["workflowId"][0]]
        matching.sort(key=lambda e: -int(e["id"]))  # newest first, as N8n lists them
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        next_offset = limit if self.repeat_cursor else offset + limit
        return 200, {
            "data": copy.deepcopy(page),
            "nextCursor": _encode_cursor(next_offset, limit) if more or self.repeat_cursor else None,
        }

    def _set_active(self, workflow_id: str, active: bool) -> tuple[int, Any]:
        with self.lock:
            for wf in self.workflows:
                if str(wf.get("id")) == workflow_id:
                    if bool(wf.get("active")) != active:
                        wf["active"] = active
                        wf["updatedAt"] = _now()
                    return 200, copy.deepcopy(wf)
        return 404, {"message": "Not Found"}

    def handle(self, method: str, raw_path: str, headers) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        with self.lock:
            self.calls.append((method, path))
            self.queries.append(query)
            self.headers.append(dict(headers.items()))
        if path == "/healthz" and method == "GET":
            return 200, {"status": "ok"}
        if path == "/_backlog" and method == "POST":  # a local control, not N8n's API
            try:
                waiting, running = (int(query.get(k, ["0"])[0]) for k in ("waiting", "running"))
            except ValueError:
                return 400, {"message": "waiting and running must be whole numbers"}
            self.set_backlog(waiting=max(0, waiting), running=max(0, running))
            return 200, self.backlog()
        if not path.startswith("/api/v1/"):
            return 404, {"message": "not found"}
        if self.delay_s:
            time.sleep(self.delay_s)
        failure = self.take_failure()  # fail_next(n, status): like an overloaded N8n or its proxy
        if failure is not None:
            return failure, {"message": f"injected failure {failure}"}
        key = headers.get("X-N8N-API-KEY")
        if not key:
            return 401, {"message": "'X-N8N-API-KEY' header required"}
        if key != self.api_key:
            return 401, {"message": "unauthorized"}
        segments = [unquote(s) for s in path[len("/api/v1/") :].split("/")]
        if segments == ["executions"] and method == "GET":
            return self._list_executions(query)
        if segments[0] != "workflows":
            return 404, {"message": "not found"}
        if method == "GET" and len(segments) == 1:
            return self._list(query)
        if method == "GET" and len(segments) == 2:
            found = self.workflow(segments[1])
            return (200, copy.deepcopy(found)) if found else (404, {"message": "Not Found"})
        if method == "POST" and len(segments) == 3 and segments[2] in {"activate", "deactivate"}:
            return self._set_active(segments[1], segments[2] == "activate")
        return 405 if len(segments) <= 3 else 404, {"message": "method not allowed"}


def _make_handler(fake: FakeN8n) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "nurture-fake-n8n/1"

        def _answer(self, method: str) -> None:
            self.read_body()
            status, body = fake.handle(method, self.path, self.headers)
            self.reply(status, json.dumps(body), "application/json; charset=utf-8")
            if not fake.quiet:
                print(f"fake n8n {method} {self.path} -> {status}", flush=True)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("python -m dev.fake_n8n", __doc__, DEFAULT_PORT, "do not print a line per request")
    parser.add_argument("--api-key", default=os.environ.get("NURTURE_FAKE_N8N_API_KEY", DEV_API_KEY))
    parser.add_argument(
        "--backlog",
        type=int,
        default=None,
        help="waiting executions to start with (default: the demo's short queue)",
    )
    args = parser.parse_args(argv)
    fake = FakeN8n(demo_workflows(), port=args.port, api_key=args.api_key, quiet=args.quiet)
    if args.backlog is not None:
        fake.set_backlog(waiting=args.backlog)
    return serve_until_signalled(
        fake,
        "fake n8n",
        args.pidfile,
        lambda: [
            f"fake n8n listening on {fake.url}/api/v1 ({len(fake.workflows)} demo workflows)",
            f"  AIRFLOW_CONN_N8N_API='{fake.connection_json()}'",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
