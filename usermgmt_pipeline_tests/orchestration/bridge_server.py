"""A scriptable stand-in for the CASE SMTP bridge: a real HTTP server on 127.0.0.1 that records requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"message": "email sent"}'
    delay_s: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class BridgeServer:
    url: str
    replies: list[Reply] = field(default_factory=list)  # consumed in order; then 200 "email sent"
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def running_bridge(replies: list[Reply] | None = None) -> Iterator[BridgeServer]:
    state = BridgeServer(url="", replies=list(replies or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            state.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = state.replies.pop(0) if state.replies else Reply()
            if reply.delay_s:
                time.sleep(reply.delay_s)
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            with suppress(OSError):
                self.wfile.write(reply.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
