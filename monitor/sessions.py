"""Browser sessions: reclaim a closed tab's session quickly without losing a slow page's.

The server discards a session nobody is connected to once it has been unused for
`--unused-session-lifetime` (1 s here, so a closed tab's callbacks and models go within about two
seconds). Bokeh starts that clock when the page's HTML is served, but the browser connects its
websocket only after it has fetched and run the page's scripts: 1–5 s on a busy machine. A page
slower than the lifetime had its session discarded while it loaded; the websocket then made Bokeh
rebuild a session under the same id, which Panel counted as live but had already counted as
ended, so it could never be counted out again (`session_info["live"]` grew by one for every slow
page, and the test that closes a tab failed after other browser tests had loaded the machine).
See bokeh/server/contexts.py (`_cleanup_sessions`), bokeh/server/views/ws.py
(`create_session_if_needed`) and panel/io/state.py (`_init_session`, `_destroy_session`).

`hold_until_connected` blocks a new session's expiry until its browser first connects (or
`CONNECT_GRACE_S` passes, for a client that fetched only the HTML); from then on the short
lifetime applies only to tabs that have gone.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

CONNECT_GRACE_S = 60.0
_holds: set[asyncio.Task[None]] = set()  # keeps the tasks alive until they finish


async def _hold(session_context: Any) -> None:
    deadline = time.monotonic() + CONNECT_GRACE_S
    while session_context.session is None:  # attached once the app has run
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)
    session = session_context.session
    session.block_expiration()
    try:
        while (
            session.connection_count == 0 and not session.destroyed and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.1)
    finally:
        session.unblock_expiration()


def hold_until_connected(session_context: Any) -> None:
    """`pn.state.on_session_created` hook: see the module docstring."""
    task = asyncio.get_running_loop().create_task(_hold(session_context))
    _holds.add(task)
    task.add_done_callback(_holds.discard)
