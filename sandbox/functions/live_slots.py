"""The EcoTrips `live-slots-update` Edge Function (seed 000).

`POST /functions/v1/live-slots-update` with `{"itinerary_id": ...}`, `{"group_id": ...}` or
`{"escrow_id": ...}` recomputes the presence counters of the matching itineraries from
`concierge.presence` (SQL `group.recompute_live_slots`, see `sandbox/sql/010_ecotrips.sql`),
upserts `group.live_slots` (an unchanged row is not written, so no postgres_changes event goes
out), logs one `groups.live_slots.update` audit line per itinerary on logger `sandbox.functions`
and answers `{"event": "groups.live_slots.update", "slots": [...], "changed": [...]}`.

The edge runtime's JWT check and CORS are applied in front of it (see `sandbox.functions`); the
caller's claims only go into the audit line. The recompute itself runs as the database owner,
like a function that uses the service-role client.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from .. import middleware

log = logging.getLogger("sandbox.functions")

NAME = "live-slots-update"
EVENT = "groups.live_slots.update"
KEYS = ("itinerary_id", "group_id", "escrow_id")
COUNTERS = ("presence_opt_in", "presence_visible", "presence_online")
SLOT_FIELDS = ("itinerary_id", "group_id", "escrow_id", *COUNTERS, "updated_at")

RECOMPUTE = (
    'select s.*, s.updated_at = now() as changed from "group".recompute_live_slots($1, $2, $3) s'
)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def _selector(request: web.Request) -> dict[str, str] | web.Response:
    accepted = ", ".join(f"`{k}`" for k in KEYS)
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        return _error(400, f"body must be a JSON object with one of {accepted}")
    if not isinstance(body, dict):
        return _error(400, f"body must be a JSON object with one of {accepted}")
    picked: dict[str, str] = {}
    for key in KEYS:
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            return _error(400, f"`{key}` must be a string")
        picked[key] = value
    if not picked:
        return _error(400, f"body must include one of {accepted}")
    return picked


def _slot(row: asyncpg.Record) -> dict[str, Any]:
    slot = {k: row[k] for k in SLOT_FIELDS}
    if isinstance(slot["updated_at"], datetime):
        slot["updated_at"] = slot["updated_at"].isoformat()
    return slot


async def handle(pool: asyncpg.Pool, request: web.Request) -> web.StreamResponse:
    claims = middleware.claims(request)
    if request.method != "POST":
        return _error(405, f"{request.method} not allowed; use POST")
    selector = await _selector(request)
    if isinstance(selector, web.Response):
        return selector
    try:
        rows = await pool.fetch(RECOMPUTE, *(selector.get(k) for k in KEYS), timeout=10)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        log.error("%s failed for %s: %s", NAME, selector, exc)
        return _error(500, f"recompute failed: {exc}")
    if not rows:
        return _error(404, f"no itinerary matches {json.dumps(selector, sort_keys=True)}")
    slots = [_slot(r) for r in rows]
    changed = [r["itinerary_id"] for r in rows if r["changed"]]
    for row, slot in zip(rows, slots, strict=True):
        audit = {
            "event": EVENT,
            **{k: slot[k] for k in ("itinerary_id", "group_id", "escrow_id", *COUNTERS)},
            "changed": bool(row["changed"]),
            "role": claims.role,
            "sub": claims.sub,
        }
        log.info(json.dumps(audit))
    return _json({"event": EVENT, "slots": slots, "changed": changed})
