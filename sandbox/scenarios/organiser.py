"""Organiser dashboard (seed 004): several organisers editing clients and trips at once.

Four organisers, and eight clients with a trip or two each to start with, fixed on every start
and for every `--seed` so watch profiles and tests can name them (`profiles/organiser.toml`).
On start the scenario inserts whatever of them is missing; later edits carry over.

Each organiser online has a socket of their own. On it they track themselves on `organisers`
with the seed's presence meta (`user_id`, `user_name`, `online_at`) and join
`collaboration-cursors`, where they send `cursor-move` broadcasts with the seed's payload
(`{userId, position: {x, y}, userName}`), about 1.5 a second in all at rate 1. About every 15 s
an organiser leaves or comes back (presence leave/join); two to four are online.

About every 1.5 s one organiser edits: a trip (status forward, budget, travellers, dates,
notes), a client (phone, notes, status), or adds a trip, a lead client, or clears out a finished
trip. One edit in twenty is a near-simultaneous double edit of the same trip by two organisers,
the case the seed resolves last-write-wins on `updated_at`. Every edit sets `updated_by`; the
trigger sets `updated_at`. At most 24 trips and 14 clients exist: beyond that, additions turn
into removals, so the tables stay small.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from .base import MONITOR_KEY, Scenario, ScenarioContext, watch_channel
from .common import Cursor, SimUser, acting_as, iso_now

ROSTER_SEED = "organiser-roster-v1"
PRESENCE_TOPIC = "organisers"
CURSOR_TOPIC = "collaboration-cursors"
MAX_TRIPS = 24
MAX_CLIENTS = 14
NEXT_STATUS = {
    "draft": "planning",
    "planning": "confirmed",
    "confirmed": "in_progress",
    "in_progress": "completed",
}


@dataclass(frozen=True)
class Organiser:
    id: str
    name: str


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    company: str | None
    email: str
    organiser: Organiser


ORGANISERS = (
    Organiser("40000000-0000-4000-8000-000000000001", "Maya Fischer"),
    Organiser("40000000-0000-4000-8000-000000000002", "Tom Okonkwo"),
    Organiser("40000000-0000-4000-8000-000000000003", "Lena Sato"),
    Organiser("40000000-0000-4000-8000-000000000004", "Ravi Iyer"),
)
_NAMES = (
    ("Harper Wells", "Wells & Partners"),
    ("Jonas Lindqvist", None),
    ("Amara Diallo", "Diallo Consulting"),
    ("Kenji Watanabe", "Watanabe Foods"),
    ("Isabel Moreno", None),
    ("Oliver Grant", "Grant Architecture"),
    ("Nadia Petrova", "Petrova Events"),
    ("Samuel Adeyemi", None),
)
CLIENTS = tuple(
    Client(
        f"40000000-0000-4000-c000-{i + 1:012d}",
        name,
        company,
        name.lower().replace(" ", ".") + "@example.com",
        ORGANISERS[i % len(ORGANISERS)],
    )
    for i, (name, company) in enumerate(_NAMES)
)
LEADS = (
    "Chiara Bianchi",
    "Mateo Alvarez",
    "Freya Nilsen",
    "Yusuf Kaya",
    "Grace O'Neill",
    "Leo Dubois",
    "Aiko Tanaka",
    "Zara Ahmed",
)
DESTINATIONS = (
    "Lisbon, Portugal",
    "Kyoto, Japan",
    "Cape Town, South Africa",
    "Reykjavik, Iceland",
    "Marrakech, Morocco",
    "Queenstown, New Zealand",
    "Cartagena, Colombia",
    "Dolomites, Italy",
    "Hanoi, Vietnam",
    "Banff, Canada",
)
NOTES = (
    "Client prefers aisle seats",
    "Vegetarian meals for two travellers",
    "Add travel insurance quote",
    "Waiting on passport details",
    "Upgrade to sea-view rooms if available",
    "Airport transfer booked",
    "Check visa requirements",
)


def trip_name(client_name: str, destination: str) -> str:
    return f"{client_name.split()[0]} in {destination.split(',')[0]}"


async def seed(conn: asyncpg.Connection) -> None:
    """Insert the missing clients and give a client with no trip its first trips (as the owner)."""
    rng = random.Random(ROSTER_SEED)
    async with conn.transaction():
        for client in CLIENTS:
            trips = []
            for _ in range(rng.randint(1, 2)):
                destination = rng.choice(DESTINATIONS)
                start = dt.date.today() + dt.timedelta(days=rng.randint(14, 120))
                trips.append(
                    (
                        trip_name(client.name, destination),
                        destination,
                        start,
                        start + dt.timedelta(days=rng.randint(4, 14)),
                        rng.randint(1, 6),
                        Decimal(rng.randrange(2000, 20000, 250)),
                        rng.choice(("draft", "planning", "confirmed")),
                    )
                )
            await conn.execute(
                "insert into public.clients (id, organiser_id, name, email, company, status) "
                "values ($1, $2, $3, $4, $5, 'active') on conflict (id) do nothing",
                client.id,
                client.organiser.id,
                client.name,
                client.email,
                client.company,
            )
            if not await conn.fetchval(
                "select exists(select from public.trips where client_id = $1)", client.id
            ):
                await conn.executemany(
                    "insert into public.trips (client_id, organiser_id, name, destination, "
                    "start_date, end_date, travellers, budget, status) "
                    "values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    [(client.id, client.organiser.id, *trip) for trip in trips],
                )


class OrganiserDemo(Scenario):
    name = "organiser"
    description = (
        "clients and trips edited by several organisers, presence on `organisers`, cursor-move "
        "on collaboration-cursors"
    )
    watch = (  # trips edited by several organisers, and who is online
        watch_channel("trips-changes", broadcast=(), changes=[("public", "trips")]),
        watch_channel("organisers", presence_key=MONITOR_KEY),
    )

    async def run(self, ctx: ScenarioContext) -> None:
        async with ctx.db.acquire() as conn:
            await seed(conn)
        people = [
            SimUser(ctx, o.id, name=o.name, topics=[CURSOR_TOPIC], presence_topic=PRESENCE_TOPIC)
            for o in ORGANISERS
        ]
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.edits(ctx, people))
                tasks.create_task(self.presence(ctx, people))
                tasks.create_task(self.cursors(ctx, people))
        finally:
            for user in people:
                await user.disconnect()

    # --- presence and cursors -----------------------------------------------------------------

    @staticmethod
    def meta(user: SimUser) -> dict[str, str]:
        return {"user_id": user.user_id, "user_name": user.name, "online_at": iso_now()}

    async def presence(self, ctx: ScenarioContext, people: list[SimUser]) -> None:
        rng = ctx.rng
        wanted: set[str] = set()  # who means to be online (a dropped socket is reopened)
        for user in rng.sample(people, 3):
            wanted.add(user.user_id)
            await user.try_connect(self.meta(user))
        while True:
            await ctx.sleep(15.0)
            for user in people:
                if user.user_id in wanted and not user.online:
                    await user.try_connect(self.meta(user))
            user = rng.choice(people)
            online = [u for u in people if u.online]
            if user.online:
                if len(online) > 2 or rng.random() < 0.1:
                    wanted.discard(user.user_id)
                    await user.disconnect()
            else:
                wanted.add(user.user_id)
                await user.try_connect(self.meta(user))

    async def cursors(self, ctx: ScenarioContext, people: list[SimUser]) -> None:
        pointers = {u.user_id: Cursor(ctx.rng, 1920, 1080) for u in people}
        while True:
            await ctx.sleep(0.7)
            online = [u for u in people if u.online]
            if not online:
                continue
            user = ctx.rng.choice(online)
            await user.broadcast(
                CURSOR_TOPIC,
                "cursor-move",
                {
                    "userId": user.user_id,
                    "position": pointers[user.user_id].step(),
                    "userName": user.name,
                },
            )

    # --- edits --------------------------------------------------------------------------------

    async def edits(self, ctx: ScenarioContext, people: list[SimUser]) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(1.5)
            editors = [u for u in people if u.online] or people
            editor = rng.choice(editors).user_id
            async with ctx.db.acquire() as conn:
                trips = await conn.fetch(
                    "select id, client_id, status, travellers, budget from public.trips "
                    "where organiser_id = any($1::uuid[])",
                    [o.id for o in ORGANISERS],
                )
                roll = rng.random()
                if roll < 0.05 and trips:
                    trip = rng.choice(trips)
                    other = rng.choice([u for u in people if u.user_id != editor]).user_id
                    await self.edit_trip(ctx, conn, editor, trip)
                    await self.edit_trip(ctx, conn, other, trip)
                elif roll < 0.5 and trips:
                    await self.edit_trip(ctx, conn, editor, rng.choice(trips))
                elif roll < 0.78:
                    await self.edit_client(ctx, conn, editor)
                elif roll < 0.9:
                    finished = [t for t in trips if t["status"] in ("completed", "cancelled")]
                    if len(trips) >= MAX_TRIPS or (finished and rng.random() < 0.5):
                        victim = rng.choice(finished or trips)
                        async with acting_as(conn, editor):
                            await conn.execute(
                                "delete from public.trips where id = $1", victim["id"]
                            )
                    else:
                        await self.add_trip(ctx, conn, editor)
                else:
                    await self.add_or_drop_client(ctx, conn, editor)

    async def edit_trip(
        self, ctx: ScenarioContext, conn: asyncpg.Connection, editor: str, trip: asyncpg.Record
    ) -> None:
        rng = ctx.rng
        roll = rng.random()
        async with acting_as(conn, editor):
            if roll < 0.35 and trip["status"] in NEXT_STATUS:
                nxt = "cancelled" if rng.random() < 0.08 else NEXT_STATUS[trip["status"]]
                await conn.execute(
                    "update public.trips set status = $2, updated_by = $3 where id = $1",
                    trip["id"],
                    nxt,
                    editor,
                )
            elif roll < 0.55:
                await conn.execute(
                    "update public.trips set budget = greatest(500, coalesce(budget, 5000) + $2), "
                    "updated_by = $3 where id = $1",
                    trip["id"],
                    Decimal(rng.randrange(-1000, 1250, 250)),
                    editor,
                )
            elif roll < 0.7:
                await conn.execute(
                    "update public.trips set travellers = least(12, greatest(1, travellers + $2)),"
                    " updated_by = $3 where id = $1",
                    trip["id"],
                    rng.choice((-1, 1)),
                    editor,
                )
            elif roll < 0.85:
                shift = rng.choice((-2, -1, 1, 2, 7))
                await conn.execute(
                    "update public.trips set start_date = start_date + $2::int, "
                    "end_date = end_date + $2::int, updated_by = $3 where id = $1",
                    trip["id"],
                    shift,
                    editor,
                )
            else:
                await conn.execute(
                    "update public.trips set notes = $2, updated_by = $3 where id = $1",
                    trip["id"],
                    rng.choice(NOTES),
                    editor,
                )

    async def edit_client(
        self, ctx: ScenarioContext, conn: asyncpg.Connection, editor: str
    ) -> None:
        rng = ctx.rng
        client_id = await conn.fetchval(
            "select id from public.clients where organiser_id = any($1::uuid[]) "
            "order by random() limit 1",
            [o.id for o in ORGANISERS],
        )
        if client_id is None:
            return
        roll = rng.random()
        async with acting_as(conn, editor):
            if roll < 0.4:
                await conn.execute(
                    "update public.clients set phone = $2, updated_by = $3 where id = $1",
                    client_id,
                    f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                    editor,
                )
            elif roll < 0.8:
                await conn.execute(
                    "update public.clients set notes = $2, updated_by = $3 where id = $1",
                    client_id,
                    rng.choice(NOTES),
                    editor,
                )
            else:
                await conn.execute(
                    "update public.clients set status = case status when 'lead' then 'active' "
                    "when 'active' then 'inactive' else 'active' end, updated_by = $2 "
                    "where id = $1",
                    client_id,
                    editor,
                )

    async def add_trip(self, ctx: ScenarioContext, conn: asyncpg.Connection, editor: str) -> None:
        rng = ctx.rng
        client = await conn.fetchrow(
            "select id, name from public.clients where organiser_id = any($1::uuid[]) "
            "order by random() limit 1",
            [o.id for o in ORGANISERS],
        )
        if client is None:
            return
        destination = rng.choice(DESTINATIONS)
        start = dt.date.today() + dt.timedelta(days=rng.randint(14, 180))
        async with acting_as(conn, editor):
            await conn.execute(
                "insert into public.trips (client_id, organiser_id, name, destination, "
                "start_date, end_date, travellers, budget, status, updated_by) "
                "values ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $2)",
                client["id"],
                editor,
                trip_name(client["name"], destination),
                destination,
                start,
                start + dt.timedelta(days=rng.randint(3, 14)),
                rng.randint(1, 6),
                Decimal(rng.randrange(1500, 15000, 250)),
            )

    async def add_or_drop_client(
        self, ctx: ScenarioContext, conn: asyncpg.Connection, editor: str
    ) -> None:
        rng = ctx.rng
        fixed = [c.id for c in CLIENTS]
        count = await conn.fetchval(
            "select count(*) from public.clients where organiser_id = any($1::uuid[])",
            [o.id for o in ORGANISERS],
        )
        async with acting_as(conn, editor):
            if count >= MAX_CLIENTS or rng.random() < 0.3:
                # a lead that went nowhere is removed, with its trips (cascade)
                await conn.execute(
                    "delete from public.clients where id = (select id from public.clients "
                    "where organiser_id = any($1::uuid[]) and not (id = any($2::uuid[])) "
                    "order by created_at limit 1)",
                    [o.id for o in ORGANISERS],
                    fixed,
                )
                return
            name = rng.choice(LEADS)
            await conn.execute(
                "insert into public.clients (organiser_id, name, email, status, updated_by) "
                "values ($1, $2, $3, 'lead', $1)",
                editor,
                name,
                name.lower().replace(" ", ".").replace("'", "") + "@example.com",
            )
