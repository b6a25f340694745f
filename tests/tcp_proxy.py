"""A TCP proxy of our own between a client under test and a real server, for fault injection.

Nothing is mocked: the client speaks to the proxy exactly as it would to the server, and the
proxy forwards every byte. What it can do to the traffic, settable at any time while it runs:

* `delay_up` / `delay_down` (seconds): each chunk read from the client (up) or from the server
  (down) is written out that much later. A delay, not a throttle: chunks keep their order and
  throughput is unchanged, like a longer path. Lowering a delay never reorders bytes; chunks
  already held go out first.
* `rate_up` / `rate_down` (bytes per second, None for no limit): a bandwidth limit per direction,
  shared by every connection, like one narrow link. Bytes go out in slices of ~20 ms worth; what
  waits is bounded (`HELD_MAX`), so a sender faster than the limit feels TCP back-pressure, as it
  would behind a real slow link, instead of filling the proxy's memory.
* `stall()`: a path that stops carrying anything, with every socket left open: no byte moves
  either way, connections accepted meanwhile are not connected through, and nobody is told.
  Bytes wait in the kernels' buffers, as in a real partition, and flow again on `clear()`.
* `half_open(direction)`: each open connection silently loses one direction for good ("down",
  the server's bytes to the client; "up", the client's bytes to the server; "both"): its bytes
  are read and thrown away, every socket stays open and no FIN or RST is sent. This is a
  connection whose other end has gone (a NAT or load balancer forgot it, a host vanished): the
  stream has a hole, so it stays broken after `clear()`; connections made later are healthy.
* `reset()` (also `drop_connections()`): close every open connection with an RST (SO_LINGER 0)
  on both sides, as a router or a crashed peer's kernel does. Connections made later are healthy.
* `clear()`: no delay, no limit, no stall: the path is healthy again.

`bytes_up` / `bytes_down` count the bytes forwarded, `discarded` those a half-open connection
lost, `connections` the connections accepted since start.

Runs on the caller's event loop (`async with TcpProxy(host, port) as proxy`), on 127.0.0.1 and
a free port (`proxy.port`, `proxy.url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable

HELD_MAX = 1 << 20  # bytes one direction of one connection may hold before it stops reading
SLICE_S = 0.02  # a rate-limited direction writes this much time's worth of bytes at once
DIRECTIONS = ("up", "down")


class _Bucket:
    """A bandwidth limit: the time the link is busy until, shared by whoever writes through it."""

    def __init__(self) -> None:
        self.free_at = 0.0

    def book(self, now: float, size: int, rate: float) -> float:
        """Reserve the link for `size` bytes at `rate`; returns when they may go out."""
        start = max(self.free_at, now)
        self.free_at = start + size / rate
        return start


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client_w: asyncio.StreamWriter) -> None:
        self.client_w = client_w
        self.server_w: asyncio.StreamWriter | None = None
        self.lost: set[str] = set()  # directions half-open: read and thrown away

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client_w, self.server_w) if w is not None]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay_up = 0.0
        self.delay_down = 0.0
        self.rate_up: float | None = None
        self.rate_down: float | None = None
        self.port = 0
        self.connections = 0  # accepted since start
        self.bytes_up = 0
        self.bytes_down = 0
        self.discarded = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._buckets = {d: _Bucket() for d in DIRECTIONS}
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()  # a stalled pipe must be able to see its cancellation through
        self.reset()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # --- faults --------------------------------------------------------------------------------

    def stall(self) -> None:
        self._flowing.clear()

    def half_open(self, direction: str = "down") -> int:
        """Lose `direction` ("down", "up" or "both") on every open connection; returns how
        many connections it hit."""
        lost = set(DIRECTIONS) if direction == "both" else {direction}
        if not lost <= set(DIRECTIONS):
            raise ValueError(f"direction is up, down or both, not {direction!r}")
        for link in self._links:
            link.lost |= lost
        return len(self._links)

    def reset(self) -> int:
        """RST every open connection, both sides; returns how many connections it cut."""
        links, self._links = list(self._links), set()
        for link in links:
            for writer in link.writers():
                _abort_with_rst(writer)
        return len(links)

    drop_connections = reset  # the first name, kept for the tests that use it

    def clear(self) -> None:
        self.delay_up = self.delay_down = 0.0
        self.rate_up = self.rate_down = None
        self._flowing.set()

    # --- forwarding ----------------------------------------------------------------------------

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(client_w)
        self._links.add(link)
        try:
            await self._flowing.wait()  # a stalled path connects nothing through
            if link not in self._links:
                return  # reset meanwhile
            try:
                server_r, server_w = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                _abort_with_rst(client_w)
                return
            link.server_w = server_w
            if link not in self._links:  # reset while connecting
                _abort_with_rst(server_w)
                return
            up = asyncio.create_task(self._pipe(link, "up", client_r, server_w))
            down = asyncio.create_task(self._pipe(link, "down", server_r, client_w))
            self._pipes |= {up, down}
            try:
                await asyncio.gather(up, down, return_exceptions=True)
            finally:
                self._pipes -= {up, down}
        finally:
            self._links.discard(link)
            for w in link.writers():
                if w.transport is not None and not w.transport.is_closing():
                    w.transport.abort()

    def _delay(self, direction: str) -> float:
        return self.delay_up if direction == "up" else self.delay_down

    def _rate(self, direction: str) -> float | None:
        return self.rate_up if direction == "up" else self.rate_down

    def _count(self, direction: str, n: int) -> None:
        if direction == "up":
            self.bytes_up += n
        else:
            self.bytes_down += n

    async def _pipe(
        self,
        link: _Link,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Read chunks as they come, each stamped with when it is due; write them in order.

        Reading and writing are separate tasks so that a delay holds many chunks at once (a long
        path carries a window of bytes, it does not send one chunk per delay)."""
        loop = asyncio.get_running_loop()
        held: deque[tuple[float, bytes] | None] = deque()
        held_bytes = 0
        arrived = asyncio.Event()
        room = asyncio.Event()
        room.set()

        async def read() -> None:
            nonlocal held_bytes
            try:
                while True:
                    await self._flowing.wait()
                    await room.wait()
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    if direction in link.lost:
                        self.discarded += len(chunk)
                        continue
                    held.append((loop.time() + self._delay(direction), chunk))
                    held_bytes += len(chunk)
                    if held_bytes > HELD_MAX:
                        room.clear()
                    arrived.set()
            except (ConnectionError, OSError):
                pass
            finally:
                held.append(None)
                arrived.set()

        reading = asyncio.create_task(read())
        try:
            while True:
                while not held:
                    arrived.clear()
                    await arrived.wait()
                item = held.popleft()
                if item is None:
                    break
                due, chunk = item
                held_bytes -= len(chunk)
                if held_bytes <= HELD_MAX:
                    room.set()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                await self._write(link, direction, writer, chunk, _sleep_until(loop))
            if direction not in link.lost and writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    async def _write(
        self,
        link: _Link,
        direction: str,
        writer: asyncio.StreamWriter,
        chunk: bytes,
        sleep_until: Callable[[float], object],
    ) -> None:
        """Write one chunk once the path flows, in slices the direction's rate allows."""
        loop = asyncio.get_running_loop()
        view = memoryview(chunk)
        while view:
            await self._flowing.wait()
            if direction in link.lost:  # lost while the chunk waited: it never arrives
                self.discarded += len(view)
                return
            rate = self._rate(direction)
            piece = view if not rate else view[: max(1, int(rate * SLICE_S))]
            if rate:
                await sleep_until(self._buckets[direction].book(loop.time(), len(piece), rate))
                if not self._flowing.is_set():
                    continue  # stalled while it waited for the link: wait for the path again
            writer.write(piece)
            self._count(direction, len(piece))
            view = view[len(piece) :]
            await writer.drain()


def _sleep_until(loop: asyncio.AbstractEventLoop) -> Callable[[float], object]:
    async def sleep_until(when: float) -> None:
        if (wait := when - loop.time()) > 0:
            await asyncio.sleep(wait)

    return sleep_until


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close at once with an RST: SO_LINGER on with a zero timeout makes close() discard what
    is unsent and reset the connection, where a plain abort() may send a FIN."""
    transport = writer.transport
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
