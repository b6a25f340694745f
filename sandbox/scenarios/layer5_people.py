"""Layer 5's people, as the `layer5` scenario moves them: who is online, on which page, and the
cursors of whoever is on a document.

Each person online has a socket of their own, tracked on `user-presence` with the seed's meta
(`user_id`, `online_at`, `location`) and joined to the documents' channels. About every 12 s
someone leaves or comes back (presence leave/join, and their `user_presence` row) or moves to
another page (a re-track, at most once per 30 s per socket). Whoever is on a document page sends
`cursor-move` broadcasts on `document:{id}` with the seed's payload (`{userId, position: {x, y}}`),
about one a second in all.
"""

from __future__ import annotations

from .base import ScenarioContext
from .common import Cursor, SimUser, acting_as, iso_now
from .layer5_roster import DOCUMENTS, PEOPLE, PRODUCTIONS

DOCUMENT = "/documents/"


class Crowd:
    """The roster's people on their sockets, and the page each one online is on."""

    def __init__(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx
        self.users = [
            SimUser(
                ctx,
                p.id,
                name=p.name,
                topics=[f"document:{d.id}" for d in DOCUMENTS],
                presence_topic="user-presence",
            )
            for p in PEOPLE
        ]
        self.locations: dict[str, str] = {}

    async def disconnect(self) -> None:
        for user in self.users:
            await user.disconnect()

    def page(self, user: SimUser) -> str:
        """Where `user` goes next; somebody online is always on a document, moving a cursor."""
        rng = self.ctx.rng
        editors = [
            u
            for u in self.users
            if u is not user and u.online and self.locations.get(u.user_id, "").startswith(DOCUMENT)
        ]
        roll = rng.random()
        if roll < 0.55 or not editors:
            return f"{DOCUMENT}{rng.choice(DOCUMENTS).id}"
        if roll < 0.75:
            return f"/productions/{rng.choice(PRODUCTIONS).id}/board"
        if roll < 0.85:
            return f"/productions/{rng.choice(PRODUCTIONS[:2]).id}/run-of-show"
        if roll < 0.92:
            return "/operations/incidents"
        return "/finance/budgets"

    async def set_presence_row(self, user: SimUser, status: str, location: str | None) -> None:
        async with self.ctx.db.acquire() as conn, acting_as(conn, user.user_id):
            await conn.execute(
                "update public.user_presence set status = $2, location = $3, "
                "last_seen_at = now() where user_id = $1",
                user.user_id,
                status,
                location,
            )

    async def arrive(self, user: SimUser) -> None:
        location = self.page(user)
        meta = {"user_id": user.user_id, "online_at": iso_now(), "location": location}
        if not await user.try_connect(meta):
            return
        self.locations[user.user_id] = location
        await self.set_presence_row(user, "online", location)

    async def come_and_go(self) -> None:
        ctx, rng = self.ctx, self.ctx.rng
        for user in rng.sample(self.users, 3):
            await self.arrive(user)
        while True:
            await ctx.sleep(12.0)
            for user in self.users:  # sockets the server dropped (a restart): back on the same page
                if user.user_id in self.locations and not user.online:
                    await self.arrive(user)
            user = rng.choice(self.users)
            online = [u for u in self.users if u.online]
            editing = [u for u in online if self.locations.get(u.user_id, "").startswith(DOCUMENT)]
            may_leave = editing != [user] and (len(online) > 2 or rng.random() < 0.2)
            if user.online and may_leave and rng.random() < 0.6:
                await user.disconnect()
                self.locations.pop(user.user_id, None)
                await self.set_presence_row(user, "offline", None)
            elif not user.online:
                await self.arrive(user)
            else:
                location = self.page(user)
                meta = {"user_id": user.user_id, "online_at": iso_now(), "location": location}
                if await user.retrack(meta):
                    self.locations[user.user_id] = location
                    await self.set_presence_row(user, "online", location)

    async def cursors(self) -> None:
        ctx = self.ctx
        pointers = {u.user_id: Cursor(ctx.rng) for u in self.users}
        while True:
            await ctx.sleep(1.0)
            editors = [
                (u, loc.removeprefix(DOCUMENT))
                for u in self.users
                if u.online and (loc := self.locations.get(u.user_id, "")).startswith(DOCUMENT)
            ]
            if not editors:
                continue
            user, document_id = ctx.rng.choice(editors)
            await user.broadcast(
                f"document:{document_id}",
                "cursor-move",
                {"userId": user.user_id, "position": pointers[user.user_id].step()},
            )
