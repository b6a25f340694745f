"""HomeSer (seed 003): a home-services marketplace's bookings moving through their lifecycle.

Four customers, three providers with two services each and a weekly availability, fixed on every
start and for every `--seed` so watch profiles can name them (`profiles/homeser.toml`). On start
the scenario inserts whatever of the catalogue is missing (`homeser.services`,
`homeser.availability`); bookings and notifications carry over from earlier runs.

Then, about every 2 s at rate 1, one of:

* **A new booking** (INSERT, status `pending`), written *as the customer* (role authenticated,
  their claims, so the insert policy applies), for a slot in the next two weeks; the provider is
  notified.
* **A status transition** of an open booking: `pending -> confirmed | cancelled`,
  `confirmed -> in_progress | cancelled`, `in_progress -> completed`. Confirming, starting and
  completing are the provider's; cancelling is the customer's or, less often, the provider's.
  Each is written as that party (RLS), and then, as the Django app's
  `NotificationService.notify_booking_status_change()` does after its `post_save` signal, a
  notification row goes to the customer and, for cancellations by the customer, to the provider
  (written with the service role, which bypasses RLS, as `sync_to_supabase()` does).
* **An availability update** by a provider (a day switched on or off, or its hours shifted).
* **A catalogue update** by a provider (a price adjusted, a service paused or resumed).

The first customer gets 40% of the new bookings, so a profile filtered on them sees steady
traffic. Finished bookings beyond the newest 30 are deleted, and each user keeps their newest
20 notifications, so the tables stay small however long the demo runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from .base import Scenario, ScenarioContext, watch_channel
from .common import acting_as, weighted

MAX_FINISHED = 30
MAX_NOTIFICATIONS = 20
OPEN = ("pending", "confirmed", "in_progress")
# status -> [(next status, weight, who acts: "provider" | "customer")]
TRANSITIONS = {
    "pending": [("confirmed", 0.8, "provider"), ("cancelled", 0.1, "customer"),
                ("cancelled", 0.1, "provider")],
    "confirmed": [("in_progress", 0.85, "provider"), ("cancelled", 0.15, "customer")],
    "in_progress": [("completed", 1.0, "provider")],
}  # fmt: skip
CUSTOMER_MESSAGES = {
    "confirmed": ("booking_confirmed", "Booking confirmed", "{provider} confirmed your {service}"),
    "in_progress": ("booking_started", "Service started", "{provider} has started your {service}"),
    "completed": (
        "booking_completed",
        "Service completed",
        "Your {service} is complete. How did {provider} do?",
    ),
    "cancelled": ("booking_cancelled", "Booking cancelled", "Your {service} was cancelled"),
}


@dataclass(frozen=True)
class User:
    id: str
    name: str


@dataclass(frozen=True)
class Service:
    provider: User
    name: str
    category: str
    price: Decimal
    minutes: int


CUSTOMERS = (
    User("30000000-0000-4000-8000-000000000001", "Priya Nair"),
    User("30000000-0000-4000-8000-000000000002", "Marcus Lee"),
    User("30000000-0000-4000-8000-000000000003", "Sofia Rossi"),
    User("30000000-0000-4000-8000-000000000004", "Tom Becker"),
)
CUSTOMER_WEIGHTS = (0.4, 0.2, 0.2, 0.2)
PROVIDERS = (
    User("30000000-0000-4000-9000-000000000001", "SparkleClean Co"),
    User("30000000-0000-4000-9000-000000000002", "FixIt Plumbing & Electric"),
    User("30000000-0000-4000-9000-000000000003", "GreenThumb Gardens"),
)
SERVICES = (
    Service(PROVIDERS[0], "Deep home cleaning", "cleaning", Decimal("120.00"), 180),
    Service(PROVIDERS[0], "Move-out cleaning", "cleaning", Decimal("220.00"), 300),
    Service(PROVIDERS[1], "Leaky faucet repair", "plumbing", Decimal("85.00"), 60),
    Service(PROVIDERS[1], "Electrical safety inspection", "electrical", Decimal("140.00"), 90),
    Service(PROVIDERS[2], "Lawn mowing", "gardening", Decimal("45.00"), 60),
    Service(PROVIDERS[2], "Hedge trimming", "gardening", Decimal("70.00"), 90),
)
# day_of_week (0 = Monday) -> (start, end, available)
WEEK = {
    **{d: (dt.time(8), dt.time(17), True) for d in range(5)},
    5: (dt.time(9), dt.time(13), True),
    6: (dt.time(10), dt.time(14), False),
}


def party(user_id: str) -> User:
    return next(u for u in (*CUSTOMERS, *PROVIDERS) if u.id == user_id)


async def seed(conn: asyncpg.Connection) -> None:
    """Insert the missing part of the catalogue and availability (as the database owner)."""
    async with conn.transaction():
        for s in SERVICES:
            await conn.execute(
                "insert into homeser.services "
                "(provider_id, name, category, price, duration_minutes) "
                "select $1, $2, $3, $4, $5 where not exists "
                "(select from homeser.services where provider_id = $1 and name = $2)",
                s.provider.id,
                s.name,
                s.category,
                s.price,
                s.minutes,
            )
        await conn.executemany(
            "insert into homeser.availability "
            "(provider_id, day_of_week, start_time, end_time, is_available) "
            "values ($1, $2, $3, $4, $5) on conflict (provider_id, day_of_week) do nothing",
            [(p.id, day, *hours) for p in PROVIDERS for day, hours in WEEK.items()],
        )


async def notify(
    conn: asyncpg.Connection,
    user_id: str,
    booking_id: int | None,
    kind: str,
    title: str,
    message: str,
) -> None:
    """One notification row (as the backend), keeping the user's newest MAX_NOTIFICATIONS."""
    await conn.execute(
        "insert into homeser.notifications (user_id, booking_id, type, title, message) "
        "values ($1, $2, $3, $4, $5)",
        user_id,
        booking_id,
        kind,
        title,
        message,
    )
    await conn.execute(
        "delete from homeser.notifications where user_id = $1 and id not in "
        "(select id from homeser.notifications where user_id = $1 "
        "order by created_at desc, id desc limit $2)",
        user_id,
        MAX_NOTIFICATIONS,
    )


class HomeSerDemo(Scenario):
    name = "homeser"
    description = (
        "homeser.bookings moving pending -> confirmed -> completed/cancelled with per-user "
        "notifications, availability and catalogue updates"
    )
    watch = (  # bookings moving through their statuses
        watch_channel("bookings-changes", broadcast=(), changes=[("homeser", "bookings")]),
    )

    async def run(self, ctx: ScenarioContext) -> None:
        async with ctx.db.acquire() as conn:
            await seed(conn)
        while True:
            await ctx.sleep(2.0)
            async with ctx.db.acquire() as conn:
                await self.step(ctx, conn)

    async def step(self, ctx: ScenarioContext, conn: asyncpg.Connection) -> None:
        rng = ctx.rng
        provider_ids = [p.id for p in PROVIDERS]
        open_bookings = await conn.fetch(
            "select b.id, b.status, b.customer_id::text, b.provider_id::text, s.name as service "
            "from homeser.bookings b left join homeser.services s on s.id = b.service_id "
            "where b.status = any($1::text[]) and b.provider_id = any($2::uuid[]) "
            "order by b.id",
            list(OPEN),
            provider_ids,
        )
        roll = rng.random()
        if len(open_bookings) < 3 or (roll < 0.3 and len(open_bookings) < 12):
            await self.book(ctx, conn)
        elif roll < 0.85 and open_bookings:
            await self.advance(ctx, conn, rng.choice(open_bookings))
        elif roll < 0.95:
            await self.availability(ctx, conn)
        else:
            await self.catalogue(ctx, conn)
        await conn.execute(
            "delete from homeser.bookings where id in (select id from homeser.bookings "
            "where status in ('completed', 'cancelled') and provider_id = any($1::uuid[]) "
            "order by updated_at desc, id desc offset $2)",
            provider_ids,
            MAX_FINISHED,
        )

    async def book(self, ctx: ScenarioContext, conn: asyncpg.Connection) -> None:
        rng = ctx.rng
        customer = weighted(rng, CUSTOMERS, CUSTOMER_WEIGHTS)
        service = rng.choice(SERVICES)
        service_id = await conn.fetchval(
            "select id from homeser.services where provider_id = $1 and name = $2 "
            "and status = 'active'",
            service.provider.id,
            service.name,
        )
        if service_id is None:
            return  # paused: not bookable
        day = dt.date.today() + dt.timedelta(days=rng.randint(1, 14))
        start = dt.datetime.combine(day, dt.time(rng.randint(8, 15)), tzinfo=dt.UTC)
        end = start + dt.timedelta(minutes=service.minutes)
        async with acting_as(conn, customer.id):
            booking_id = await conn.fetchval(
                "insert into homeser.bookings (customer_id, provider_id, service_id, "
                "booking_date, start_time, end_time, status, total_price, notes) "
                "values ($1, $2, $3, $4, $4, $5, 'pending', $6, $7) returning id",
                customer.id,
                service.provider.id,
                service_id,
                start,
                end,
                service.price,
                rng.choice((None, "Gate code 4411", "Please call on arrival", "Dog in the yard")),
            )
        await notify(
            conn,
            service.provider.id,
            booking_id,
            "booking_requested",
            "New booking request",
            f"{customer.name} requested {service.name} on {day:%a %d %b}",
        )

    async def advance(
        self, ctx: ScenarioContext, conn: asyncpg.Connection, booking: asyncpg.Record
    ) -> None:
        rng = ctx.rng
        options = TRANSITIONS[booking["status"]]
        target, _, actor = rng.choices(options, [w for _, w, _ in options])[0]
        acting = booking["customer_id"] if actor == "customer" else booking["provider_id"]
        async with acting_as(conn, acting):
            changed = await conn.fetchval(
                "update homeser.bookings set status = $2 where id = $1 and status = $3 "
                "returning id",
                booking["id"],
                target,
                booking["status"],
            )
        if changed is None:
            return
        # NotificationService.notify_booking_status_change(), after the post_save signal
        provider = party(booking["provider_id"]).name
        service = booking["service"] or "booking"
        kind, title, template = CUSTOMER_MESSAGES[target]
        await notify(
            conn,
            booking["customer_id"],
            booking["id"],
            kind,
            title,
            template.format(provider=provider, service=service),
        )
        if target == "cancelled" and actor == "customer":
            await notify(
                conn,
                booking["provider_id"],
                booking["id"],
                "booking_cancelled",
                "Booking cancelled",
                f"{party(booking['customer_id']).name} cancelled their {service}",
            )

    async def availability(self, ctx: ScenarioContext, conn: asyncpg.Connection) -> None:
        rng = ctx.rng
        provider = rng.choice(PROVIDERS)
        day = rng.randrange(7)
        async with acting_as(conn, provider.id):
            if rng.random() < 0.5:
                await conn.execute(
                    "update homeser.availability set is_available = not is_available "
                    "where provider_id = $1 and day_of_week = $2",
                    provider.id,
                    day,
                )
            else:
                start, end, _ = WEEK[day]
                shift = dt.timedelta(hours=rng.choice((-1, 0, 1)))
                await conn.execute(
                    "update homeser.availability set start_time = $3, end_time = $4 "
                    "where provider_id = $1 and day_of_week = $2",
                    provider.id,
                    day,
                    (dt.datetime.combine(dt.date.today(), start) + shift).time(),
                    (dt.datetime.combine(dt.date.today(), end) + shift).time(),
                )

    async def catalogue(self, ctx: ScenarioContext, conn: asyncpg.Connection) -> None:
        rng = ctx.rng
        service = rng.choice(SERVICES)
        async with acting_as(conn, service.provider.id):
            if rng.random() < 0.7:
                factor = Decimal(str(rng.choice((0.95, 1.0, 1.05))))
                await conn.execute(
                    "update homeser.services set price = round($3::numeric * $4::numeric, 2) "
                    "where provider_id = $1 and name = $2",
                    service.provider.id,
                    service.name,
                    service.price,
                    factor,
                )
            else:
                await conn.execute(
                    "update homeser.services set status = case status when 'active' "
                    "then 'paused' else 'active' end where provider_id = $1 and name = $2",
                    service.provider.id,
                    service.name,
                )
