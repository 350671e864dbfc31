"""What the small HTTP servers of the local tools (Slack sink, fake N8n) share: bound to 127.0.0.1
only, served from a daemon thread, started and stopped the same way, the same injected failures,
and the same command line (`--port`, `--pidfile`, `--quiet`; serve until SIGTERM or SIGINT, the
PID file present while serving)."""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler base: no access-log line per request, whole replies in one call."""

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def reply(self, status: int, body: str | bytes, content_type: str = "text/html") -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the servers print what is worth a line themselves (unless quiet)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout) before the answer was written is not an error here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Base class: subclasses set `thread_name` and implement `handler_class()`."""

    thread_name = "loopback-server"

    def __init__(self, port: int = 0):
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._failures_lock = threading.Lock()
        self._failures: collections.deque[int] = collections.deque()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _before_start(self) -> None:
        """Hook for preparation (e.g. the output folder) before the port is bound."""

    def start(self):
        """Bind 127.0.0.1:<port> (0 picks a free one) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._before_start()
        server = _Server((HOST, self._requested_port), self.handler_class())
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        if self._server is not None:
            return self._server.server_address[1]
        return self._requested_port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8765"""
        return f"http://{HOST}:{self.port}"

    # -- injected failures -----------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next `n` requests the server would serve with `status` instead (they are
        not recorded); calls accumulate in order."""
        if n < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next needs n >= 0 and an HTTP error status (400-599)")
        with self._failures_lock:
            self._failures.extend([status] * n)

    def clear_failures(self) -> None:
        with self._failures_lock:
            self._failures.clear()

    def take_failure(self) -> int | None:
        """The status to answer this request with, if a failure is pending (called per request)."""
        with self._failures_lock:
            return self._failures.popleft() if self._failures else None


# -- command line -----------------------------------------------------------------------------------


def cli_parser(prog: str, doc: str, default_port: int, quiet_help: str) -> argparse.ArgumentParser:
    """The options every tool has: --port, --pidfile, --quiet (add your own to the parser)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=default_port, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument("--pidfile", type=Path, help="write this process's PID here while serving")
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    return parser


def serve_until_signalled(
    server: LoopbackServer, name: str, pidfile: Path | None, banner: Callable[[], Iterable[str]]
) -> int:
    """Start `server`, write the PID file, print the banner lines, serve until SIGTERM or SIGINT,
    then stop and remove the PID file (if it is still ours). 0, or 1 if the port cannot be bound."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    try:
        server.start()
    except OSError as exc:
        print(f"{name}: cannot listen on {HOST}:{server.port}: {exc}", file=sys.stderr)
        return 1
    pid = str(os.getpid())
    if pidfile:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(pid + "\n")
    for line in banner():
        print(line, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if pidfile:
            with contextlib.suppress(OSError):
                if pidfile.read_text().strip() == pid:
                    pidfile.unlink()
        print(f"{name} stopped", flush=True)
    return 0
