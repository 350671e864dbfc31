"""A local stand-in for Slack incoming webhooks (never used by a deployment).

    python -m dev.slack_sink --port 8765 --out .local/slack.jsonl [--pidfile F] [--quiet]

It listens on 127.0.0.1 only and answers webhook POSTs the way Slack does: a JSON body (or a
form-encoded ``payload=<json>``) gets 200 ``ok``; a body that is not a JSON object gets 400
``invalid_payload``; a payload with no ``text``, ``blocks`` or ``attachments`` gets 400 ``no_text``;
a path outside ``/services/`` gets 404 ``no_service``. Every accepted payload is appended to the
JSONL file as ``{"received_at": ISO-8601, "path": "/services/T000/B000/XXX", "payload": {...}}``.
``GET /healthz`` answers ``{"status": "ok", "received": N}`` (handy for readiness checks).

Point Airflow at it with the JSON connection form (a URI's port is ignored by slackwebhook):

    AIRFLOW_CONN_SLACK_ALERTS='{"conn_type": "slackwebhook",
        "host": "http://127.0.0.1:8765/services", "password": "T000/B000/XXX"}'

In tests (see tests/conftest.py)::

    sink = SlackSink(port=0, jsonl_path=tmp_path / "slack.jsonl", quiet=True)
    sink.start()            # serves in a background thread; port 0 picks a free port
    sink.payloads()         # payload dicts received so far, in order
    sink.fail_next(1, 500)  # the next POST gets a 500 and is not recorded
    sink.stop()
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from dev.loopback_server import HOST as HOST  # re-exported: the address every local tool binds
from dev.loopback_server import LoopbackServer, QuietHandler, cli_parser, serve_until_signalled

DEFAULT_PORT = int(os.environ.get("NURTURE_SLACK_SINK_PORT", "8765"))
# The webhook path the local connection uses: a dummy, not a secret.
WEBHOOK_TOKEN = "T000/B000/XXX"
SERVICES_PREFIX = "/services/"
MAX_BODY = 1_000_000  # bytes; Slack's own limit is far lower for text, this only guards the sink.

# Bodies Slack answers with for the statuses a test is likely to inject.
_ERROR_BODIES = {
    400: "invalid_payload",
    403: "invalid_token",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
}


def _error_body(status: int) -> str:
    return _ERROR_BODIES.get(status, "internal_error" if status >= 500 else "error")


def _summary(payload: dict[str, Any]) -> str:
    """First line of the text (or of the first block's text), for the console."""
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        text = ""
        for block in payload.get("blocks") or []:
            inner = block.get("text") if isinstance(block, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("text"), str):
                text = inner["text"]
                break
    first = text.strip().splitlines()[0] if text.strip() else "(no text)"
    return first[:160]


class SlackSink(LoopbackServer):
    """An HTTP server on 127.0.0.1 that records Slack incoming-webhook POSTs."""

    thread_name = "slack-sink"

    def __init__(self, port: int = DEFAULT_PORT, jsonl_path: Path | str | None = None, quiet: bool = False):
        super().__init__(port)
        self.jsonl_path = Path(jsonl_path) if jsonl_path is not None else None
        self.quiet = quiet
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._received = threading.Condition(self._lock)

    def handler_class(self):
        return _make_handler(self)

    def _before_start(self) -> None:
        if self.jsonl_path is not None:
            self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def webhook_url(self) -> str:
        """The full incoming-webhook URL the local connection resolves to."""
        return f"{self.url}{SERVICES_PREFIX}{WEBHOOK_TOKEN}"

    def connection_json(self) -> str:
        """The Airflow connection (JSON form) for conn_type slackwebhook pointing at this sink."""
        return json.dumps(
            {"conn_type": "slackwebhook", "host": f"{self.url}/services", "password": WEBHOOK_TOKEN}
        )

    # -- test API --------------------------------------------------------------------------------

    def payloads(self) -> list[dict[str, Any]]:
        """Payloads accepted since start (or the last clear()), oldest first."""
        with self._lock:
            return [record["payload"] for record in self._records]

    def records(self) -> list[dict[str, Any]]:
        """Like payloads(), with received_at and path: the same dicts as the JSONL lines."""
        with self._lock:
            return [dict(record) for record in self._records]

    def clear(self) -> None:
        """Forget the payloads held in memory and pending failures (the JSONL file is kept)."""
        with self._lock:
            self._records.clear()
        self.clear_failures()

    # fail_next(n, status) (LoopbackServer): the next `n` webhook POSTs get `status`, unrecorded.

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` payloads are held (or raise TimeoutError); returns them."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self._records) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"SlackSink got {len(self._records)} payload(s), expected {count}")
                self._received.wait(remaining)
            return [record["payload"] for record in self._records]

    # -- request handling (called from server threads) --------------------------------------------

    def _record(self, path: str, payload: dict[str, Any]) -> None:
        record = {"received_at": datetime.now(UTC).isoformat(), "path": path, "payload": payload}
        line = json.dumps(record, ensure_ascii=False)
        with self._received:
            if self.jsonl_path is not None:
                with self.jsonl_path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
            self._records.append(record)
            self._received.notify_all()
        if not self.quiet:
            blocks = payload.get("blocks")
            n_blocks = len(blocks) if isinstance(blocks, list) else 0
            stamp = record["received_at"][11:19]
            print(f"{stamp} slack {path}: {_summary(payload)} [{n_blocks} blocks]", flush=True)


def _parse_payload(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The payload dict, or None when Slack would say invalid_payload."""
    try:
        text = body.decode("utf-8")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(text, keep_blank_values=True)
            if "payload" not in fields:
                return None
            text = fields["payload"][0]
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _has_content(payload: dict[str, Any]) -> bool:
    text = payload.get("text")
    return bool(
        (isinstance(text, str) and text.strip()) or payload.get("blocks") or payload.get("attachments")
    )


def _make_handler(sink: SlackSink) -> type[QuietHandler]:
    class Handler(QuietHandler):
        server_version = "nurture-slack-sink/1"

        def do_POST(self) -> None:
            if int(self.headers.get("Content-Length") or 0) > MAX_BODY:
                self.reply(413, "request_too_large")
                return
            body = self.read_body()
            path = self.path.split("?", 1)[0]
            if not path.startswith(SERVICES_PREFIX):
                self.reply(404, "no_service")
                return
            failure = sink.take_failure()
            if failure is not None:
                self.reply(failure, _error_body(failure))
                return
            payload = _parse_payload(body, self.headers.get("Content-Type", ""))
            if payload is None:
                self.reply(400, "invalid_payload")
                return
            if not _has_content(payload):
                self.reply(400, "no_text")
                return
            sink._record(path, payload)
            self.reply(200, "ok")

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/healthz":
                with sink._lock:
                    received = len(sink._records)
                self.reply(200, json.dumps({"status": "ok", "received": received}), "application/json")
            else:
                self.reply(405, "invalid_method")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("python -m dev.slack_sink", __doc__, DEFAULT_PORT, "do not print a line per message")
    parser.add_argument("--out", type=Path, default=Path(".local/slack.jsonl"), help="JSONL file to append")
    args = parser.parse_args(argv)
    sink = SlackSink(port=args.port, jsonl_path=args.out, quiet=args.quiet)
    return serve_until_signalled(
        sink,
        "slack sink",
        args.pidfile,
        lambda: [f"slack sink listening on {sink.webhook_url} -> {args.out}"],
    )


if __name__ == "__main__":
    sys.exit(main())
