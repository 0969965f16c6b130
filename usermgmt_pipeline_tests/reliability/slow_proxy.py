"""A TCP proxy on 127.0.0.1 whose server-to-client direction can be delayed at will (a "slow server").

Written for the tests with asyncio in a background thread: the pipeline talks MongoDB wire protocol
through it unchanged; setting `delay_s` holds reply chunks back that long before forwarding them - all
replies, or with `only_after` only the replies to requests containing those bytes (e.g. b"getMore": one
slow query while the driver's heartbeats stay fast).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class SlowProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = 0.0
        self.only_after: bytes = b""
        self.matched_requests = 0  # requests seen containing `only_after` (their replies are the slow ones)
        self.on_match: Callable[[], None] | None = None
        """Called with each request containing `only_after`, before it is forwarded (e.g. to freeze the
        client while the server executes it)."""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        marked = [False]  # the last request on this connection matched `only_after`
        await asyncio.gather(
            self._pump(client_r, server_w, marked, requests=True),
            self._pump(server_r, client_w, marked, requests=False),
            return_exceptions=True,
        )

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        marked: list[bool],
        *,
        requests: bool,
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if requests:
                    marked[0] = bool(self.only_after) and self.only_after in chunk
                    self.matched_requests += marked[0]
                    if marked[0] and self.on_match is not None:
                        self.on_match()
                elif self.delay_s and (not self.only_after or marked[0]):
                    await asyncio.sleep(self.delay_s)
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()
