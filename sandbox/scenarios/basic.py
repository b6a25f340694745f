"""The sandbox's always-on demo: a few broadcasts a second, presence churn, drifting rows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from .base import MONITOR_KEY, Scenario, ScenarioContext, watch_channel

NAMES = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances"]


class BasicDemo(Scenario):
    name = "basic"
    description = "broadcast ticks on `demo`, presence on `demo-presence`, updates to demo_items"
    sql = [Path(__file__).with_name("basic.sql")]
    watch = (
        watch_channel("demo"),
        watch_channel("demo-presence", presence_key=MONITOR_KEY),
        watch_channel("demo-rows", changes=[("public", "demo_items")]),
    )

    async def run(self, ctx: ScenarioContext) -> None:
        await asyncio.gather(self.ticks(ctx), self.presence(ctx), self.rows(ctx))

    async def ticks(self, ctx: ScenarioContext) -> None:
        client = await ctx.client()
        topic = await client.join("demo")
        seq = 0
        while True:
            seq += 1
            await client.broadcast(topic, "tick", {"seq": seq, "sent_at": time.time()})
            await ctx.sleep(0.33)

    async def presence(self, ctx: ScenarioContext) -> None:
        """Members come and go, each on its own socket, so joins and leaves are real."""
        online: dict[str, object] = {}
        while True:
            name = ctx.rng.choice(NAMES)
            if name in online and (len(online) > 2 or ctx.rng.random() < 0.3):
                client = online.pop(name)
                await client.close()  # type: ignore[attr-defined]
            elif name not in online:
                client = await ctx.client()
                topic = await client.join("demo-presence", presence_key=name)
                await client.track(
                    topic,
                    {
                        "user": name,
                        "online_at": time.time(),
                        "status": ctx.rng.choice(["active", "idle"]),
                    },
                )
                online[name] = client
            await ctx.sleep(2.0)

    async def rows(self, ctx: ScenarioContext) -> None:
        db = ctx.db
        if not await db.fetchval("select count(*) from public.demo_items"):
            await db.executemany(
                "insert into public.demo_items (name, value) values ($1, 0)",
                [(n,) for n in ("alpha", "beta", "gamma", "delta")],
            )
        while True:
            roll = ctx.rng.random()
            if roll < 0.08:
                await db.execute(
                    "insert into public.demo_items (name, value) values ($1, $2)",
                    f"item-{ctx.rng.randrange(1000)}",
                    ctx.rng.randrange(100),
                )
            elif roll < 0.14:
                await db.execute(
                    "delete from public.demo_items "
                    "where id = (select max(id) from public.demo_items) "
                    "and (select count(*) from public.demo_items) > 4"
                )
            else:
                await db.execute(
                    "update public.demo_items set value = value + $1, updated_at = now() "
                    "where id = (select id from public.demo_items order by random() limit 1)",
                    ctx.rng.randint(-5, 5),
                )
            await ctx.sleep(1.0)
