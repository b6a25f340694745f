"""Baseline for the fan-out benchmark: the least a websocket relay on aiohttp can do.

No protocol, no auth, no JSON: every text frame a socket sends is written to every other socket.
The sandbox is compared with this in the same run, so the figure that matters is the ratio.
Prints `RELAY READY <port>` when listening.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import WSMsgType, web

peers: set[web.WebSocketResponse] = set()


async def handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    peers.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                for peer in peers:
                    if peer is not ws:
                        await peer.send_str(msg.data)
    finally:
        peers.discard(ws)
    return ws


async def main() -> None:
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"RELAY READY {site._server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
