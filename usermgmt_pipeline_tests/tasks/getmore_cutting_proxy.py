"""A TCP proxy on 127.0.0.1 in front of the real server that drops any connection sending `getMore`.

The first batch of a cursor (32 users) is served normally and every other command passes, so the task
processes those users; the next `getMore` then fails with a network error, exactly like a server restart
or a cursor killed between batches. No mocking: pymongo talks to the real server through real sockets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class GetMoreCuttingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
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
                if inspect and b"getMore" in chunk:
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
