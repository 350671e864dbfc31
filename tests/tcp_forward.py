"""A plain TCP forwarder on a loopback address (threads, no dependencies): lets a test reach the
real PostgreSQL through another port, e.g. 6543, the port of Supabase's transaction-mode pooler.

It listens on a random address of 127.0.0.0/8 (all loopback on Linux), so parallel test sessions
can each have their own port 6543."""

from __future__ import annotations

import random
import socket
import threading
from contextlib import suppress


class TcpForwarder:
    """Accepts on `host`:`listen_port` (host: a random 127.x.y.z unless given) and pipes each
    connection to 127.0.0.1:`target_port`."""

    def __init__(self, listen_port: int, target_port: int, host: str | None = None):
        self.target_port = target_port
        rng = random.SystemRandom()
        self.host = host or f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(2, 254)}"
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((self.host, listen_port))  # OSError if the address is taken
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpForwarder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave it blocked,
        # and the port bound, for the life of the process.
        with suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
