"""`python -m sandbox serve --demo`: starts fast, and clients get all three kinds of traffic."""

from __future__ import annotations

import asyncio
import time

from realtime import AsyncRealtimeClient


async def test_demo_sandbox_is_ready_fast_and_never_silent(fresh_sandbox):
    started = time.monotonic()
    sb = fresh_sandbox("--demo")
    assert time.monotonic() - started < 15, "READY must come within 15 s"
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key)
    await client.connect()
    ticks, changes, members = [], [], []
    cfg = {
        "config": {
            "broadcast": {"self": False, "ack": False},
            "presence": {"key": "watcher", "enabled": True},
            "private": False,
        }
    }
    bc = client.channel("demo", cfg)
    bc.on_broadcast("tick", ticks.append)
    await bc.subscribe()
    pres = client.channel("demo-presence", cfg)
    pres.on_presence_sync(lambda: members.append(len(pres.presence_state())))
    await pres.subscribe()
    pg = client.channel("demo-rows", cfg)
    pg.on_postgres_changes("*", changes.append, table="demo_items", schema="public")
    await pg.subscribe()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (len(ticks) >= 3 and changes and max(members or [0])):
        await asyncio.sleep(0.1)
    await client.close()
    assert len(ticks) >= 3, "broadcast ticks"
    seqs = [t["payload"]["seq"] for t in ticks]
    assert seqs == sorted(seqs)
    assert changes and changes[0]["data"]["table"] == "demo_items"
    assert max(members) >= 1, "presence members"
    assert sb.proc.poll() is None, "the sandbox keeps running"
    assert "Traceback" not in sb.log()
