"""EcoTrips (seed 000): travelers toggling presence, and the live-slot counters following.

Four itineraries, each with its group and escrow, and 6-10 travelers each. The roster (ids,
sizes, first state) comes from an rng seeded with a constant, so it is the same on every start,
for every `--seed` and after a scenario restart, and watch profiles can name its itineraries and
travelers. `--seed` drives the traffic (`ctx.rng`).

On start the scenario upserts `group.live_slots` rows (itinerary, group, escrow) and inserts the
travelers' `concierge.presence` rows if missing (as the database owner; existing rows keep their
state), then invokes the Edge Function once per itinerary. Then, about once per 1-2 s at rate 1,
one traveler toggles opt-in, visibility or status. The change is written **as that traveler**:
in a transaction with `set local role authenticated` and `request.jwt.claims` carrying the
traveler's `sub`, so the traveler-owned RLS policies apply exactly as for a supabase-js client.
Then the traveler's session invokes `POST /functions/v1/live-slots-update` with the
`itinerary_id` over HTTP, the seed's flow ("invoke the function whenever presence opt-in
changes"); the function recomputes the counters and, if they moved, `group.live_slots` emits an
UPDATE on the realtime feed.

Opt-in and visibility flips are biased (an opted-in traveler opts out a third as often as an
opted-out one opts in; likewise for visibility) and statuses move among online/away/offline with
weights, so every counter goes both up and down around a steady level.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from ..as_role import as_role
from .base import Scenario, ScenarioContext, watch_channel

log = logging.getLogger("sandbox.demo.ecotrips")

ROSTER_SEED = "ecotrips-roster-v1"
FUNCTION_PATH = "/functions/v1/live-slots-update"
STATUSES = ("online", "away", "offline")
STATUS_WEIGHTS = {"online": 0.5, "away": 0.3, "offline": 0.2}
PLACES = ("andes", "fjords", "atlas", "borneo")
# The seed's counters, counted directly (the recompute in 010_ecotrips.sql does the same).
COUNTERS_SQL = (
    "select count(*) filter (where opt_in) as presence_opt_in, "
    "count(*) filter (where opt_in and visible) as presence_visible, "
    "count(*) filter (where opt_in and visible and status = 'online') as presence_online "
    "from concierge.presence where itinerary_id = $1"
)


@dataclass(frozen=True)
class Traveler:
    traveler_id: uuid.UUID
    itinerary_id: str
    group_id: str
    opt_in: bool
    visible: bool
    status: str


@dataclass(frozen=True)
class Itinerary:
    itinerary_id: str
    group_id: str
    escrow_id: str
    travelers: tuple[Traveler, ...]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _status(rng: random.Random) -> str:
    return rng.choices(STATUSES, [STATUS_WEIGHTS[s] for s in STATUSES])[0]


def make_itinerary(rng: random.Random, place: str, number: int, size: int) -> Itinerary:
    itinerary_id = f"itn-{place}-{number:02d}"
    group_id = f"grp-{place}-{number:02d}"
    travelers = tuple(
        Traveler(
            traveler_id=_uuid(rng),
            itinerary_id=itinerary_id,
            group_id=group_id,
            opt_in=rng.random() < 0.75,
            visible=rng.random() < 0.8,
            status=_status(rng),
        )
        for _ in range(size)
    )
    return Itinerary(itinerary_id, group_id, f"esc-{place}-{number:02d}", travelers)


def roster() -> list[Itinerary]:
    """The demo's itineraries and travelers; identical on every call and every start."""
    rng = random.Random(ROSTER_SEED)
    return [make_itinerary(rng, place, i + 1, rng.randint(6, 10)) for i, place in enumerate(PLACES)]


async def seed(conn: asyncpg.Connection, itineraries: list[Itinerary]) -> None:
    """Upsert the live_slots identities and add missing presence rows (as the owner)."""
    async with conn.transaction():
        await conn.executemany(
            'insert into "group".live_slots as s (itinerary_id, group_id, escrow_id) '
            "values ($1, $2, $3) on conflict (itinerary_id) do update "
            "set group_id = excluded.group_id, escrow_id = excluded.escrow_id "
            "where (s.group_id, s.escrow_id) "
            "is distinct from (excluded.group_id, excluded.escrow_id)",
            [(i.itinerary_id, i.group_id, i.escrow_id) for i in itineraries],
        )
        await conn.executemany(
            "insert into concierge.presence "
            "(traveler_id, itinerary_id, group_id, opt_in, visible, status) "
            "values ($1, $2, $3, $4, $5, $6) on conflict (traveler_id, itinerary_id) do nothing",
            [
                (t.traveler_id, t.itinerary_id, t.group_id, t.opt_in, t.visible, t.status)
                for i in itineraries
                for t in i.travelers
            ],
        )


async def write_presence(
    conn: asyncpg.Connection,
    traveler_id: uuid.UUID | str,
    itinerary_id: str,
    *,
    opt_in: bool | None = None,
    visible: bool | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Update a traveler's presence row as that traveler (role authenticated, RLS applies).

    Returns the updated row; raises LookupError if RLS (or a missing row) let nothing through.
    """
    sub = str(traveler_id)
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated"}
    async with as_role(conn, "authenticated", claims):
        row = await conn.fetchrow(
            "update concierge.presence set opt_in = coalesce($3, opt_in), "
            "visible = coalesce($4, visible), status = coalesce($5, status) "
            "where traveler_id = $1::uuid and itinerary_id = $2 returning *",
            sub,
            itinerary_id,
            opt_in,
            visible,
            status,
        )
    if row is None:
        raise LookupError(f"no presence row of traveler {sub} on {itinerary_id} is visible to them")
    return dict(row)


async def invoke(
    http: aiohttp.ClientSession, base_url: str, token: str, body: dict[str, str]
) -> dict[str, Any]:
    """`supabase.functions.invoke("live-slots-update", {body})`, as supabase-js sends it."""
    headers = {"Authorization": f"Bearer {token}", "apikey": token}
    async with http.post(base_url + FUNCTION_PATH, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 200:
            raise RuntimeError(f"live-slots-update answered {resp.status}: {data}")
        return data


def next_change(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    """One toggle of opt-in, visibility or status; biased so the counters hover, not drift."""
    roll = rng.random()
    if roll < 0.25 and (not row["opt_in"] or rng.random() < 1 / 3):
        return {"opt_in": not row["opt_in"]}
    if 0.25 <= roll < 0.45 and (not row["visible"] or rng.random() < 0.25):
        return {"visible": not row["visible"]}
    others = [s for s in STATUSES if s != row["status"]]
    return {"status": rng.choices(others, [STATUS_WEIGHTS[s] for s in others])[0]}


class EcoTripsDemo(Scenario):
    name = "ecotrips"
    description = (
        "travelers toggle concierge.presence as themselves; live-slots-update recomputes "
        "group.live_slots"
    )
    watch = (watch_channel("group-live-slots", changes=[("group", "live_slots")]),)

    async def run(self, ctx: ScenarioContext) -> None:
        itineraries = roster()
        async with ctx.db.acquire() as conn:
            await seed(conn, itineraries)
            rows = await conn.fetch(
                "select * from concierge.presence where itinerary_id = any($1::text[])",
                [i.itinerary_id for i in itineraries],
            )
        state = {(r["traveler_id"], r["itinerary_id"]): dict(r) for r in rows}
        travelers = [t for i in itineraries for t in i.travelers]
        tokens: dict[uuid.UUID, str] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            service = ctx.service_role_key
            for itinerary in itineraries:
                await invoke(http, ctx.base_url, service, {"itinerary_id": itinerary.itinerary_id})
            while True:
                await ctx.sleep(1.5)
                traveler = ctx.rng.choice(travelers)
                key = (traveler.traveler_id, traveler.itinerary_id)
                change = next_change(ctx.rng, state[key])
                async with ctx.db.acquire() as conn:
                    state[key] = await write_presence(
                        conn, traveler.traveler_id, traveler.itinerary_id, **change
                    )
                token = tokens.get(traveler.traveler_id)
                if token is None:
                    token = tokens[traveler.traveler_id] = ctx.user_token(
                        str(traveler.traveler_id), aud="authenticated"
                    )
                try:
                    await invoke(http, ctx.base_url, token, {"itinerary_id": traveler.itinerary_id})
                except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                    log.warning("live-slots-update for %s failed: %s", traveler.itinerary_id, exc)
