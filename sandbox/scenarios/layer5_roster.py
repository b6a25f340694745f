"""Layer 5's fixed roster: one workspace, three productions, four people, two documents.

The same on every start and for every `--seed`, so watch profiles can name it
(`profiles/layer5.toml`) and tests can check events against it; `seed` inserts whatever of it is
missing. Kept apart from the traffic (`layer5`) because it is data, not behaviour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

ROSTER_SEED = "layer5-roster-v1"
COLUMNS = ("backlog", "todo", "in_progress", "review", "done")
PRIORITIES = ("low", "medium", "high", "urgent")
PRODUCTION_STATUSES = (
    "planning",
    "pre_production",
    "in_production",
    "post_production",
    "wrapped",
)
MAX_NOTIFICATIONS = 25  # per person


@dataclass(frozen=True)
class Person:
    id: str
    name: str


@dataclass(frozen=True)
class Production:
    id: str
    name: str
    status: str
    venue: str
    manager: Person
    weight: float  # share of the board and budget traffic


@dataclass(frozen=True)
class Document:
    id: str
    title: str


WORKSPACE_ID = "50000000-0000-4000-a000-000000000001"
WORKSPACE_NAME = "Northlight Live"
PEOPLE = (
    Person("50000000-0000-4000-8000-000000000001", "Avery Chen"),
    Person("50000000-0000-4000-8000-000000000002", "Blake Okafor"),
    Person("50000000-0000-4000-8000-000000000003", "Casey Ruiz"),
    Person("50000000-0000-4000-8000-000000000004", "Devon Park"),
)
PRODUCTIONS = (
    Production(
        "50000000-0000-4000-b000-000000000001",
        "Summer Festival 2025",
        "in_production",
        "Riverside Park",
        PEOPLE[0],
        0.5,
    ),
    Production(
        "50000000-0000-4000-b000-000000000002",
        "Product Launch Tour",
        "pre_production",
        "Moscone West",
        PEOPLE[1],
        0.3,
    ),
    Production(
        "50000000-0000-4000-b000-000000000003",
        "Winter Gala",
        "planning",
        "The Grand Hall",
        PEOPLE[2],
        0.2,
    ),
)
DOCUMENTS = (
    Document("50000000-0000-4000-d000-000000000001", "Run of show: Summer Festival 2025"),
    Document("50000000-0000-4000-d000-000000000002", "Call sheet: Product Launch Tour"),
)
BUDGET_LINES = {
    PRODUCTIONS[0].id: (
        ("crew", 48000),
        ("equipment", 36000),
        ("venue", 60000),
        ("catering", 15000),
    ),
    PRODUCTIONS[1].id: (("crew", 30000), ("travel", 22000), ("venue", 40000), ("marketing", 18000)),
    PRODUCTIONS[2].id: (("venue", 25000), ("catering", 20000), ("decor", 12000), ("talent", 30000)),
}
VENDORS = {
    "crew": ("Stagehands Local 16", "Rigging Crew Co", "Freelance A1"),
    "equipment": ("Audio Rent", "LightWorks", "Gear Depot"),
    "venue": ("Riverside Park Authority", "Moscone Center", "The Grand Hall"),
    "catering": ("Green Table Catering", "Food Truck Alliance"),
    "travel": ("SkyBridge Travel", "Coach Lines Inc"),
    "marketing": ("Brightside Agency", "Print Shop 9"),
    "decor": ("Florals by June", "Drape & Co"),
    "talent": ("Lumen Artists", "Booking House"),
}
TASK_TITLES = (
    "Confirm stage plot",
    "Book backline",
    "Finalise run of show",
    "Send crew call times",
    "Order radios",
    "Site visit with venue",
    "Approve lighting plot",
    "Load-in schedule",
    "Catering headcount",
    "Security briefing",
    "Artist rider review",
    "Print credentials",
    "Insurance certificate",
    "Power distribution plan",
    "Signage proofs",
    "Hotel block for crew",
    "Production meeting notes",
    "Strike plan",
)
NOTES = (
    ("comment", "New comment", "{who} commented on {what}"),
    ("mention", "You were mentioned", "{who} mentioned you in {what}"),
    ("approval_request", "Approval requested", "{who} asked you to approve {what}"),
    ("file_shared", "File shared", "{who} shared {what} with you"),
)


def person(person_id: str) -> Person:
    return next(p for p in PEOPLE if p.id == person_id)


def roster_tasks(rng: random.Random, production: Production) -> list[tuple[str, str, int, str]]:
    """The first board of a production: (title, status, position, assignee) per task."""
    titles = rng.sample(TASK_TITLES, 8)
    out = []
    counts = dict.fromkeys(COLUMNS, 0)
    for title in titles:
        status = rng.choice(COLUMNS)
        out.append((title, status, counts[status], rng.choice(PEOPLE).id))
        counts[status] += 1
    return out


async def seed(conn: asyncpg.Connection) -> None:
    """Insert what is missing of the fixed roster, as the database owner."""
    rng = random.Random(ROSTER_SEED)
    async with conn.transaction():
        await conn.execute(
            "insert into public.workspaces (id, name, slug) values ($1, $2, 'northlight-live') "
            "on conflict (id) do nothing",
            WORKSPACE_ID,
            WORKSPACE_NAME,
        )
        await conn.executemany(
            "insert into public.productions "
            "(id, workspace_id, name, status, venue, start_date, end_date) "
            "values ($1, $2, $3, $4, $5, current_date + $6::int, current_date + $6::int + 3) "
            "on conflict (id) do nothing",
            [
                (p.id, WORKSPACE_ID, p.name, p.status, p.venue, 30 + 45 * i)
                for i, p in enumerate(PRODUCTIONS)
            ],
        )
        for production in PRODUCTIONS:
            tasks = roster_tasks(rng, production)
            lines = [
                (production.id, category, allocated, round(allocated * rng.uniform(0.4, 0.7), 2))
                for category, allocated in BUDGET_LINES[production.id]
            ]
            if not await conn.fetchval(
                "select exists(select from public.project_tasks where production_id = $1)",
                production.id,
            ):
                await conn.executemany(
                    "insert into public.project_tasks "
                    "(production_id, title, status, position, assignee_id, priority) "
                    "values ($1, $2, $3, $4, $5, 'medium')",
                    [(production.id, *task) for task in tasks],
                )
            await conn.executemany(
                "insert into public.budgets (production_id, category, amount_allocated, "
                "amount_spent) values ($1, $2, $3, $4) "
                "on conflict (production_id, category) do nothing",
                lines,
            )
        await conn.executemany(
            "insert into public.user_presence (user_id, workspace_id, status) "
            "values ($1, $2, 'offline') on conflict (user_id) do nothing",
            [(p.id, WORKSPACE_ID) for p in PEOPLE],
        )


async def notify(
    conn: asyncpg.Connection,
    user_id: str,
    kind: str,
    title: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Insert a notification (as the backend: the owner) and keep the person's newest 25."""
    await conn.execute(
        "insert into public.notifications (user_id, workspace_id, type, title, message, data) "
        "values ($1, $2, $3, $4, $5, $6::jsonb)",
        user_id,
        WORKSPACE_ID,
        kind,
        title,
        message,
        orjson.dumps(data or {}).decode(),
    )
    await conn.execute(
        "delete from public.notifications where user_id = $1 and id not in "
        "(select id from public.notifications where user_id = $1 "
        "order by created_at desc, id limit $2)",
        user_id,
        MAX_NOTIFICATIONS,
    )
