"""Capture the EcoTrips ops fixtures from a running sandbox (it starts nothing itself).

    python -m sandbox.scenarios.capture_fixtures --url URL --anon-key KEY --db-url DB \\
        --out ops/fixtures

Against the sandbox at `--url` (whose database is `--db-url`) it:

1. seeds a fixture itinerary of its own (`itn-galapagos-05`, five travelers with fixed ids and
   a fixed starting state, so the demo's itineraries are left alone and every capture shows the
   same step) and invokes `live-slots-update` once;
2. joins `group-live-slots` over a raw vsn 1.0.0 socket with the seed's binding
   (`schema=group, table=live_slots, filter=itinerary_id=eq.<id>`);
3. opts one traveler in *as that traveler* (role authenticated, RLS applies) and invokes
   `live-slots-update` with `{itinerary_id}` and the anon key, as the seed's client does;
4. writes the postgres_changes frame exactly as received to `group_live_slots_event.json`, and
   the itinerary's `concierge.presence` rows plus its `group.live_slots` row (as PostgreSQL's
   `to_jsonb` renders them) to `concierge_presence_fixture.json`, after checking that the event's
   counters equal the seed's counts over those presence rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from .ecotrips import COUNTERS_SQL, invoke, make_itinerary, seed, write_presence

CHANNEL = "group-live-slots"
# Fixed ids from a fixed rng; fixed starting states so every capture shows the same step:
# before, opt-in 4 / visible 3 / online 2; the last traveler opts in; after, 5 / 4 / 3.
BASE_STATES = [
    (True, True, "online"),
    (True, True, "away"),
    (True, False, "online"),
    (True, True, "online"),
    (False, True, "online"),
]
_ids = make_itinerary(random.Random("ecotrips-fixture-v1"), "galapagos", 5, len(BASE_STATES))
FIXTURE = replace(
    _ids,
    travelers=tuple(
        replace(t, opt_in=o, visible=v, status=st)
        for t, (o, v, st) in zip(_ids.travelers, BASE_STATES, strict=True)
    ),
)
EVENT_FILE = "group_live_slots_event.json"
PRESENCE_FILE = "concierge_presence_fixture.json"
COUNTERS = ("presence_opt_in", "presence_visible", "presence_online")


async def _recv(ws: aiohttp.ClientWebSocketResponse, deadline: float) -> dict[str, Any]:
    timeout = max(0.01, deadline - asyncio.get_running_loop().time())
    msg = await ws.receive(timeout=timeout)
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise RuntimeError(f"socket closed or sent a non-text frame: {msg.type} {msg.data!r}")
    return json.loads(msg.data)


async def _subscribe(ws: aiohttp.ClientWebSocketResponse, itinerary_id: str) -> str:
    topic = f"realtime:{CHANNEL}"
    binding = {
        "event": "*",
        "schema": "group",
        "table": "live_slots",
        "filter": f"itinerary_id=eq.{itinerary_id}",
    }
    join = {
        "config": {
            "broadcast": {"ack": False, "self": False},
            "presence": {"key": "", "enabled": False},
            "postgres_changes": [binding],
            "private": False,
        }
    }
    frame = {"topic": topic, "event": "phx_join", "payload": join, "ref": "1", "join_ref": "1"}
    await ws.send_str(json.dumps(frame))
    deadline = asyncio.get_running_loop().time() + 10
    joined = False
    while True:  # the join reply, then the "Subscribed to PostgreSQL" system message
        got = await _recv(ws, deadline)
        if got.get("event") == "phx_reply" and got.get("ref") == "1":
            if got["payload"].get("status") != "ok":
                raise RuntimeError(f"join refused: {got}")
            joined = True
        elif got.get("event") == "system" and joined:
            if got["payload"].get("status") != "ok":
                raise RuntimeError(f"postgres_changes subscription failed: {got}")
            return topic


async def _wait_update(ws: aiohttp.ClientWebSocketResponse, slot: dict[str, Any]) -> dict[str, Any]:
    """The UPDATE that wrote `slot` (a change committed before the join may still come first)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        got = await _recv(ws, deadline)
        if got.get("event") != "postgres_changes":
            continue
        data = got["payload"]["data"]
        if data["type"] == "UPDATE" and all(data["record"][k] == slot[k] for k in COUNTERS):
            return got


async def _provoke(
    http: aiohttp.ClientSession, conn: asyncpg.Connection, url: str, anon_key: str
) -> dict[str, Any]:
    """From the fixed base state, one traveler opts in and live-slots-update runs: the frame of
    the UPDATE that follows, as a subscriber of the itinerary's live slot receives it."""
    itinerary = FIXTURE
    await seed(conn, [itinerary])
    await conn.executemany(  # back to the base state, as the owner
        "update concierge.presence set opt_in = $3, visible = $4, status = $5 "
        "where traveler_id = $1 and itinerary_id = $2 "
        "and (opt_in, visible, status) is distinct from ($3, $4, $5)",
        [
            (t.traveler_id, t.itinerary_id, t.opt_in, t.visible, t.status)
            for t in itinerary.travelers
        ],
    )
    await invoke(http, url, anon_key, {"itinerary_id": itinerary.itinerary_id})
    ws_url = url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={anon_key}&vsn=1.0.0"
    async with http.ws_connect(ws_url) as ws:
        await _subscribe(ws, itinerary.itinerary_id)
        traveler = itinerary.travelers[-1]  # opted out, visible, online: opts in
        await write_presence(conn, traveler.traveler_id, itinerary.itinerary_id, opt_in=True)
        answer = await invoke(http, url, anon_key, {"itinerary_id": itinerary.itinerary_id})
        if answer["changed"] != [itinerary.itinerary_id]:
            raise RuntimeError(f"live-slots-update changed nothing: {answer}")
        return await _wait_update(ws, answer["slots"][0])


async def _stored(conn: asyncpg.Connection) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """The itinerary's presence rows, its live_slots row, and the counters counted directly."""
    itinerary_id = FIXTURE.itinerary_id
    presence = json.loads(
        await conn.fetchval(
            "select coalesce(jsonb_agg(to_jsonb(p) order by p.traveler_id), '[]')::text "
            "from concierge.presence p where p.itinerary_id = $1",
            itinerary_id,
        )
    )
    slot = json.loads(
        await conn.fetchval(
            'select to_jsonb(s)::text from "group".live_slots s where s.itinerary_id = $1',
            itinerary_id,
        )
    )
    counted = dict(await conn.fetchrow(COUNTERS_SQL, itinerary_id))
    return presence, slot, counted


async def capture(url: str, anon_key: str, db_url: str, out: Path) -> tuple[Path, Path]:
    conn = await asyncpg.connect(db_url)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            frame = await _provoke(http, conn, url, anon_key)
        presence, slot, counted = await _stored(conn)
    finally:
        await conn.close()
    record = frame["payload"]["data"]["record"]
    for name in COUNTERS:
        if not record[name] == slot[name] == counted[name]:
            raise RuntimeError(
                f"{name}: event {record[name]}, live_slots {slot[name]}, presence count "
                f"{counted[name]}; the sandbox changed underneath the capture, run it again"
            )
    out.mkdir(parents=True, exist_ok=True)
    event_path = out / EVENT_FILE
    event_path.write_text(json.dumps(frame, indent=2) + "\n")
    presence_path = out / PRESENCE_FILE
    fixture = {
        "description": (
            "concierge.presence rows of one EcoTrips itinerary and the group.live_slots row "
            "live-slots-update derived from them, captured from the sandbox"
        ),
        "captured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "itinerary_id": FIXTURE.itinerary_id,
        "counters": {
            "presence_opt_in": "travelers with opt_in",
            "presence_visible": "travelers with opt_in and visible",
            "presence_online": "travelers with opt_in and visible and status = 'online'",
        },
        "presence": presence,
        "live_slots": slot,
    }
    presence_path.write_text(json.dumps(fixture, indent=2) + "\n")
    return event_path, presence_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.scenarios.capture_fixtures", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", required=True, help="the running sandbox's http URL")
    parser.add_argument("--anon-key", required=True, help="its anon key")
    parser.add_argument("--db-url", required=True, help="its database URL")
    parser.add_argument("--out", type=Path, default=Path("ops/fixtures"), help="output directory")
    args = parser.parse_args(argv)
    try:
        paths = asyncio.run(capture(args.url.rstrip("/"), args.anon_key, args.db_url, args.out))
    except (OSError, RuntimeError, TimeoutError, asyncpg.PostgresError, aiohttp.ClientError) as exc:
        print(f"capture_fixtures: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
