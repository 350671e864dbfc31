"""The small HTTP servers of the local tools (Slack sink, fake N8n): bound to 127.0.0.1 only,
served from a daemon thread, started and stopped the same way."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


class LoopbackServer:
    """Base class: subclasses set `thread_name` and implement `handler_class()`."""

    thread_name = "loopback-server"

    def __init__(self, port: int = 0):
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _before_start(self) -> None:
        """Hook for preparation (e.g. the output folder) before the port is bound."""

    def start(self):
        """Bind 127.0.0.1:<port> (0 picks a free one) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._before_start()
        server = ThreadingHTTPServer((HOST, self._requested_port), self.handler_class())
        server.daemon_threads = True
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
