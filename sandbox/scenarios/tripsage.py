"""TripSage (seed 002): chat on private session channels, and server-originated user events.

Four travellers and three chat sessions, fixed on every start and for every `--seed`, so watch
profiles can name them (`profiles/tripsage.toml`). On start the scenario inserts the sessions
(`public.chat_sessions`, owner in `user_id`) and their collaborators
(`public.chat_session_collaborators`) if missing. The RLS policies on `realtime.messages`
(030_tripsage.sql) then let each traveller join `user:{their sub}` and `session:{id}` of the
sessions they own or collaborate on, and nothing else.

Each traveller has a socket of their own, opened with their own JWT (minted afresh on every
connect, as a rotated access token would be), and joins those topics with `private: true`. Then,
at rate 1:

* **Chat** (about every 3 s): a member of a session types (`chat:typing`, `{is_typing: true}`),
  sends a `chat:message`, and stops typing, all as broadcasts on `session:{id}` from their
  socket, so the private channel's write policy is exercised on every message.
* **Assistant** (after about 40% of the messages): the backend answers in the session with
  `realtime.send(payload, 'chat:message', 'session:{id}', true)`, the seed's server-originated
  path, written to `realtime.messages` and delivered from the WAL.
* **User events** (about every 6 s): the backend sends a `notification` to one traveller's
  `user:{sub}` with `realtime.send(..., private => true)`.
* **Reconnects** (about every 30 s): one traveller's socket is replaced by a new one with a new
  token, so joins (and their authorization) keep happening.

`realtime.messages` rows are pruned by the sandbox after ten minutes.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
import orjson

from .base import Scenario, ScenarioContext, watch_channel
from .common import SimUser, iso_now


@dataclass(frozen=True)
class Traveller:
    id: str
    name: str


@dataclass(frozen=True)
class ChatSession:
    id: str
    title: str
    owner: Traveller
    collaborators: tuple[Traveller, ...]

    @property
    def members(self) -> tuple[Traveller, ...]:
        return (self.owner, *self.collaborators)

    @property
    def topic(self) -> str:
        return f"session:{self.id}"


TRAVELLERS = (
    Traveller("20000000-0000-4000-8000-000000000001", "Ana Souza"),
    Traveller("20000000-0000-4000-8000-000000000002", "Ben Carter"),
    Traveller("20000000-0000-4000-8000-000000000003", "Chloe Martin"),
    Traveller("20000000-0000-4000-8000-000000000004", "Dev Malhotra"),
)
ANA, BEN, CHLOE, DEV = TRAVELLERS
SESSIONS = (
    ChatSession(
        "20000000-0000-4000-9000-000000000001",
        "Kyoto in cherry-blossom season",
        ANA,
        (BEN, CHLOE),
    ),
    ChatSession("20000000-0000-4000-9000-000000000002", "Patagonia trek logistics", BEN, (ANA,)),
    ChatSession("20000000-0000-4000-9000-000000000003", "Lisbon long weekend", CHLOE, (DEV,)),
)
LINES = (
    "Can we push the flight to the morning?",
    "Found a ryokan near Gion with two rooms left",
    "What's the weather looking like that week?",
    "I'd rather take the train than fly between the two cities",
    "Budget check: are we still under 3k each?",
    "Adding a day trip to the itinerary",
    "Do we need to book the museum in advance?",
    "Who's handling the car rental?",
    "Let's keep the last evening free",
    "Is travel insurance sorted?",
)
ANSWERS = (
    "I found 3 options that fit your dates; the cheapest saves about 18%.",
    "Done: I added it to day 2 of the itinerary.",
    "Expect 14-19 °C with some rain mid-week; pack a light jacket.",
    "Advance booking is recommended; I can hold two time slots for you.",
    "Your group is at 82% of the planned budget so far.",
)
USER_EVENTS = (
    ("trip.updated", "Your itinerary was updated"),
    ("booking.confirmed", "Your booking is confirmed"),
    ("price.alert", "A fare you watch dropped"),
    ("collaborator.joined", "A collaborator joined your trip"),
)


def sessions_of(traveller: Traveller) -> list[ChatSession]:
    return [s for s in SESSIONS if traveller in s.members]


async def seed(conn: asyncpg.Connection) -> None:
    """Insert the sessions and their collaborators if missing (as the database owner)."""
    async with conn.transaction():
        await conn.executemany(
            "insert into public.chat_sessions (id, user_id, title) values ($1, $2, $3) "
            "on conflict (id) do nothing",
            [(s.id, s.owner.id, s.title) for s in SESSIONS],
        )
        await conn.executemany(
            "insert into public.chat_session_collaborators (session_id, user_id) "
            "values ($1, $2) on conflict do nothing",
            [(s.id, c.id) for s in SESSIONS for c in s.collaborators],
        )


async def send(
    conn: asyncpg.Connection, payload: dict[str, object], event: str, topic: str
) -> None:
    """`realtime.send(payload, event, topic, private => true)`, as TripSage's backend calls it."""
    await conn.execute(
        "select realtime.send($1::jsonb, $2, $3, true)",
        orjson.dumps(payload).decode(),
        event,
        topic,
    )


class TripSageDemo(Scenario):
    name = "tripsage"
    description = (
        "chat:message and chat:typing on private session:{uuid} channels; realtime.send to "
        "user:{sub} and assistant replies"
    )
    watch = (  # a private chat session (the sandbox's service role may read it)
        watch_channel(SESSIONS[0].topic, private=True, broadcast=("chat:message", "chat:typing")),
    )

    async def run(self, ctx: ScenarioContext) -> None:
        async with ctx.db.acquire() as conn:
            await seed(conn)
        users = {
            t.id: SimUser(
                ctx,
                t.id,
                name=t.name,
                topics=[f"user:{t.id}", *(s.topic for s in sessions_of(t))],
                private=True,
            )
            for t in TRAVELLERS
        }
        try:
            for user in users.values():
                await user.try_connect()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.chat(ctx, users))
                tasks.create_task(self.user_events(ctx))
                tasks.create_task(self.reconnects(ctx, users))
        finally:
            for user in users.values():
                await user.disconnect()

    async def chat(self, ctx: ScenarioContext, users: dict[str, SimUser]) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(3.0)
            session = rng.choice(SESSIONS)
            author = rng.choice(session.members)
            user = users[author.id]
            if not user.online and not await user.try_connect():
                continue
            typing = {"session_id": session.id, "user_id": author.id, "is_typing": True}
            if not await user.broadcast(session.topic, "chat:typing", typing):
                continue
            await ctx.sleep(1.0)
            message = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "session_id": session.id,
                "user_id": author.id,
                "role": "user",
                "content": rng.choice(LINES),
                "created_at": iso_now(),
            }
            await user.broadcast(session.topic, "chat:message", message)
            await user.broadcast(session.topic, "chat:typing", {**typing, "is_typing": False})
            if rng.random() < 0.4:
                await ctx.sleep(1.5)
                reply = {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "session_id": session.id,
                    "user_id": None,
                    "role": "assistant",
                    "content": rng.choice(ANSWERS),
                    "reply_to": message["id"],
                    "created_at": iso_now(),
                }
                async with ctx.db.acquire() as conn:
                    await send(conn, reply, "chat:message", session.topic)

    async def user_events(self, ctx: ScenarioContext) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(6.0)
            traveller = rng.choice(TRAVELLERS)
            kind, title = rng.choice(USER_EVENTS)
            session = rng.choice(sessions_of(traveller))
            payload = {
                "type": kind,
                "title": title,
                "user_id": traveller.id,
                "session_id": session.id,
                "created_at": iso_now(),
            }
            async with ctx.db.acquire() as conn:
                await send(conn, payload, "notification", f"user:{traveller.id}")

    async def reconnects(self, ctx: ScenarioContext, users: dict[str, SimUser]) -> None:
        while True:
            await ctx.sleep(30.0)
            await ctx.rng.choice(list(users.values())).try_connect()
