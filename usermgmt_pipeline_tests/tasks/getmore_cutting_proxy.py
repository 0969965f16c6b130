"""A TCP proxy on 127.0.0.1 in front of the real server that drops any connection sending a marker.

The marker is `getMore` for a walk that holds one cursor, and `NEXT_PAGE` for one that reads each batch
by its own query (`UsersCollections.iterate_in_pages`). The first batch (32 users) is served normally and
every other command passes, so the task processes those users; the next read then fails with a network
error, exactly like a server restart or a cursor killed between batches. No mocking: pymongo talks to the
real server through real sockets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

GET_MORE = b"getMore"
NEXT_PAGE = b"\x07$gt\x00"
"""`$gt` with an ObjectId operand, in BSON: only the user pages after the first one send it."""


class GetMoreCuttingProxy:
    def __init__(self, upstream_host: str, upstream_port: int, marker: bytes = GET_MORE) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.marker = marker
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, inspect: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if inspect and self.marker in chunk:
                    self.cut += 1
                    break
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @contextmanager
    def running(self) -> Iterator[GetMoreCuttingProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self.listener.close()
