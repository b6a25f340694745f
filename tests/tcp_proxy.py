"""A TCP proxy of our own between a client under test and a real server, for fault injection.

Nothing is mocked: the client speaks to the proxy exactly as it would to the server, and the
proxy forwards every byte. What it can do to the traffic, settable at any time while it runs:

* `delay_up` / `delay_down` (seconds): each chunk read from the client (up) or from the server
  (down) is written out that much later. A delay, not a throttle: chunks keep their order and
  throughput is unchanged, like a longer path. Lowering a delay never reorders bytes; chunks
  already held go out first.
* `drop_connections()`: cut every open connection (both sides see a reset), as a network does.

Runs on the caller's event loop (`async with TcpProxy(host, port) as proxy`), on 127.0.0.1 and
a free port (`proxy.port`, `proxy.url`).
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay_up = 0.0
        self.delay_down = 0.0
        self.port = 0
        self.connections = 0  # accepted since start
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None and not transport.is_closing():
                transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        up = asyncio.create_task(self._pipe(client_r, server_w, lambda: self.delay_up))
        down = asyncio.create_task(self._pipe(server_r, client_w, lambda: self.delay_down))
        self._pipes |= {up, down}
        try:
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            self._pipes -= {up, down}
            for w in (client_w, server_w):
                self._writers.discard(w)
                if w.transport is not None and not w.transport.is_closing():
                    w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay
    ) -> None:
        """Read chunks as they come, each stamped with when it is due; write them in order."""
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def read() -> None:
            try:
                while chunk := await reader.read(65536):
                    held.put_nowait((loop.time() + delay(), chunk))
            except (ConnectionError, OSError):
                pass
            finally:
                held.put_nowait(None)

        reading = asyncio.create_task(read())
        try:
            while (item := await held.get()) is not None:
                due, chunk = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
