"""A local stand-in for the PagerDuty Events API v2 (never used by a deployment).

    python -m dev.fake_pagerduty --port 8766 --out .local/pagerduty.jsonl [--pidfile F] [--quiet]

It listens on 127.0.0.1 only and answers like PagerDuty's Events API v2:
``POST /v2/enqueue`` with a JSON event (routing_key, event_action trigger / acknowledge / resolve,
dedup_key, and for a trigger a payload with summary, severity and source) gets 202
``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (a trigger without a
dedup_key gets one); a malformed event gets 400 ``{"status": "invalid event", "errors": [...]}``.
Every accepted event is appended to the JSONL file as ``{"received_at": ISO-8601, "event": {...}}``.
Failures on demand: ``POST /_fail?status=500&count=2`` (or ``fail_next(n, status)`` in a test)
answers the next events with that status (429 carries ``Retry-After: 1``), unrecorded.
``GET /healthz`` answers ``{"status": "ok", "received": N, "open": [dedup keys triggered, not
resolved]}``.

Point Airflow at it with an http connection (the key is a dummy, not a secret):

    AIRFLOW_CONN_PAGERDUTY_EVENTS='{"conn_type": "http", "host": "http://127.0.0.1:8766",
        "password": "local-routing-key"}'

In tests (see tests/conftest.py, fixture `fake_pagerduty`)::

    pd = FakePagerDuty(port=0).start()
    pd.events()               # accepted events, oldest first
    pd.fail_next(3, 500)
    pd.stop()
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dev.loopback_server import HOST as HOST  # re-exported: the address every local tool binds
from dev.loopback_server import LoopbackServer, QuietHandler, cli_parser, serve_until_signalled

DEFAULT_PORT = int(os.environ.get("NURTURE_FAKE_PAGERDUTY_PORT", "8766"))
ROUTING_KEY = "local-routing-key"  # the local connection's dummy integration key
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_BODY = 512_000  # PagerDuty's own limit for one event


def validate(event: Any) -> list[str]:
    """The Events API's objections to an event ([] when accepted)."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or invalid")
        else:
            for field in ("summary", "source"):
                if not isinstance(payload.get(field), str) or not payload[field]:
                    errors.append(f"'payload.{field}' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
    return errors


class FakePagerDuty(LoopbackServer):
    """An HTTP server on 127.0.0.1 that records Events API v2 events."""

    thread_name = "fake-pagerduty"

    def __init__(self, port: int = DEFAULT_PORT, jsonl_path: Path | str | None = None, quiet: bool = True):
        super().__init__(port)
        self.jsonl_path = Path(jsonl_path) if jsonl_path is not None else None
        self.quiet = quiet
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []

    def handler_class(self):
        return _make_handler(self)

    def _before_start(self) -> None:
        if self.jsonl_path is not None:
            self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)

    def connection_json(self) -> str:
        """The Airflow connection (JSON form) pointing the package at this stand-in."""
        return json.dumps({"conn_type": "http", "host": self.url, "password": ROUTING_KEY})

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record["event"] for record in self._records]

    def open_incidents(self) -> list[str]:
        """Dedup keys triggered and not resolved since, in trigger order."""
        open_keys: dict[str, None] = {}
        for event in self.events():
            if event["event_action"] == "trigger":
                open_keys[event["dedup_key"]] = None
            elif event["event_action"] == "resolve":
                open_keys.pop(event["dedup_key"], None)
        return list(open_keys)

    def _record(self, event: dict[str, Any]) -> None:
        record = {"received_at": datetime.now(UTC).isoformat(), "event": event}
        with self._lock:
            if self.jsonl_path is not None:
                with self.jsonl_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._records.append(record)
        if not self.quiet:
            summary = (event.get("payload") or {}).get("summary", "")
            print(
                f"{record['received_at'][11:19]} pagerduty {event['event_action']} {event['dedup_key']} {summary}"[
                    :200
                ],
                flush=True,
            )


def _make_handler(server: FakePagerDuty) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "nurture-fake-pagerduty/1"

        def answer(self, status: int, body: dict) -> None:
            self.reply(status, json.dumps(body), "application/json")

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if int(self.headers.get("Content-Length") or 0) > MAX_BODY:
                self.answer(413, {"status": "request too large"})
                return
            body = self.read_body()
            if parts.path == "/_fail":
                query = parse_qs(parts.query)
                server.fail_next(int(query.get("count", ["1"])[0]), int(query.get("status", ["500"])[0]))
                self.answer(200, {"status": "ok"})
                return
            if parts.path != "/v2/enqueue":
                self.answer(404, {"status": "not found"})
                return
            failure = server.take_failure()
            if failure is not None:
                self.answer(failure, {"status": "rate limited" if failure == 429 else "error"})
                return
            try:
                event = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self.answer(
                    400,
                    {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]},
                )
                return
            errors = validate(event)
            if errors:
                self.answer(
                    400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
                )
                return
            event = {**event, "dedup_key": event.get("dedup_key") or uuid.uuid4().hex}
            server._record(event)
            self.answer(
                202, {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}
            )

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/healthz":
                self.answer(
                    200, {"status": "ok", "received": len(server.events()), "open": server.open_incidents()}
                )
            else:
                self.answer(405, {"status": "method not allowed"})

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser(
        "python -m dev.fake_pagerduty", __doc__, DEFAULT_PORT, "do not print a line per event"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(".local/pagerduty.jsonl"), help="JSONL file to append"
    )
    args = parser.parse_args(argv)
    server = FakePagerDuty(port=args.port, jsonl_path=args.out, quiet=args.quiet)
    return serve_until_signalled(
        server,
        "fake pagerduty",
        args.pidfile,
        lambda: [f"fake pagerduty listening on {server.url}/v2/enqueue -> {args.out}"],
    )


if __name__ == "__main__":
    sys.exit(main())
