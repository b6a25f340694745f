"""Layer 5's fixed roster: one organization and its workspace, three productions, four people
(each with a role in the workspace), two documents, and two shows with their cues.

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
    role: str = "member"  # in the workspace (user_roles)


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


@dataclass(frozen=True)
class Show:
    """An event with a run of show: cues as (cue, title, department, planned seconds)."""

    id: str
    production: Production
    name: str
    cues: tuple[tuple[str, str, str, int], ...]


ORGANIZATION_ID = "50000000-0000-4000-9000-000000000001"
ORGANIZATION_NAME = "Northlight Group"
WORKSPACE_ID = "50000000-0000-4000-a000-000000000001"
WORKSPACE_NAME = "Northlight Live"
PEOPLE = (
    Person("50000000-0000-4000-8000-000000000001", "Avery Chen", "owner"),
    Person("50000000-0000-4000-8000-000000000002", "Blake Okafor", "admin"),
    Person("50000000-0000-4000-8000-000000000003", "Casey Ruiz", "manager"),
    Person("50000000-0000-4000-8000-000000000004", "Devon Park", "member"),
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
NOTES = (  # approval requests come from `approval_requests` (layer5_ops)
    ("comment", "New comment", "{who} commented on {what}"),
    ("mention", "You were mentioned", "{who} mentioned you in {what}"),
    ("file_shared", "File shared", "{who} shared {what} with you"),
)
SHOWS = (
    Show(
        "50000000-0000-4000-e000-000000000001",
        PRODUCTIONS[0],
        "Main Stage: Day 1",
        (
            ("PRE 1", "Doors open, walk-in music", "Stage management", 1800),
            ("LX 1", "House to half", "Lighting", 10),
            ("SND 1", "Walk-in music out, safety announcement", "Sound", 60),
            ("LX 2", "House out, stage wash", "Lighting", 5),
            ("VID 1", "Opening titles on the LED wall", "Video", 90),
            ("ACT 1", "Opening act", "Stage management", 2700),
            ("CHG 1", "Changeover", "Stage management", 1200),
            ("ACT 2", "Headliner", "Stage management", 5400),
            ("SFX 1", "Finale pyro", "Special effects", 30),
            ("LX 3", "House lights up, exit music", "Lighting", 900),
        ),
    ),
    Show(
        "50000000-0000-4000-e000-000000000002",
        PRODUCTIONS[1],
        "Keynote: San Francisco",
        (
            ("PRE 1", "Doors, holding slides", "Stage management", 1200),
            ("SND 1", "Voice of god: take your seats", "Sound", 30),
            ("VID 1", "Opening film", "Video", 180),
            ("LX 1", "Stage lights up, CEO walk-on", "Lighting", 10),
            ("KEY 1", "CEO keynote", "Stage management", 1500),
            ("VID 2", "Live product demo", "Video", 600),
            ("KEY 2", "Customer story", "Stage management", 420),
            ("VID 3", "Launch film", "Video", 120),
            ("LX 2", "Walk-off, house up", "Lighting", 10),
        ),
    ),
)
# (title, category, severity, where); a new incident is one that is not open already
INCIDENTS = (
    ("Medical call at gate B", "medical", "medium", "Gate B"),
    ("Power drop on the dimmer rack", "technical", "high", "Main stage"),
    ("Crowd pressure at the front barrier", "safety", "high", "Front of house"),
    ("Lost child reported", "security", "high", "Info tent"),
    ("Radio channel 3 down", "technical", "low", "Production office"),
    ("Spill behind the VIP bar", "operations", "low", "VIP bar"),
    ("Generator 2 running hot", "technical", "medium", "Backstage compound"),
    ("Drone over the site", "security", "medium", "Airspace"),
    ("Wind gusts over the rigging limit", "weather", "critical", "Main stage"),
    ("Ticket scanners offline", "technical", "medium", "Box office"),
    ("Unattended bag at the merch tent", "security", "high", "Merch tent"),
    ("Cable run across a walkway", "safety", "low", "Food court"),
)
RESOLUTIONS = {
    "medical": ("First aid given, patron released", "Patron taken to hospital by ambulance"),
    "technical": ("Fault found and fixed", "Swapped to the spare, fault logged for the vendor"),
    "safety": ("Area cleared and made safe", "Stewards added, barrier re-set"),
    "security": ("Security checked it, all clear", "Handed over to police"),
    "weather": ("Wind dropped below the limit, show resumed",),
    "operations": ("Cleaned up, area reopened",),
}
# (entity_type, title template, amount range or None); {vendor}, {what}, {who} filled in
APPROVALS = (
    ("purchase_order", "Purchase order: {vendor}", (400, 6000)),
    ("expense", "Expense claim: {vendor}", (40, 900)),
    ("time_entry", "Overtime for {who}", (150, 900)),
    ("budget", "Budget increase: {what}", (1000, 10000)),
    ("booking", "Extend the hold on {what}", None),
    ("file", "Sign-off: {what}", None),
)
DECISIONS = {
    "approved": ("Approved", "Go ahead", "Approved, within budget"),
    "rejected": ("Over budget, get another quote", "Not this week", "Needs the producer first"),
}


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


def manager_of(production_id: str) -> Person:
    return next(p.manager for p in PRODUCTIONS if p.id == production_id)


def escalation(production_id: str, actor: Person) -> Person:
    """Whom `actor` tells when something of the production needs someone above them: its
    manager, then the workspace's owner, then its admin."""
    chain = (manager_of(production_id), PEOPLE[0], PEOPLE[1])
    return next(p for p in chain if p != actor)


async def seed(conn: asyncpg.Connection) -> None:
    """Insert what is missing of the fixed roster, as the database owner."""
    rng = random.Random(ROSTER_SEED)
    async with conn.transaction():
        await seed_workspace(conn)
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
        for show in SHOWS:
            await seed_show(conn, show)


async def seed_workspace(conn: asyncpg.Connection) -> None:
    """The organization, its workspace, and the people's roles in it (which RLS reads)."""
    await conn.execute(
        "insert into public.organizations (id, name, slug) values ($1, $2, 'northlight') "
        "on conflict (id) do nothing",
        ORGANIZATION_ID,
        ORGANIZATION_NAME,
    )
    await conn.execute(
        "insert into public.workspaces (id, organization_id, name, slug) "
        "values ($1, $2, $3, 'northlight-live') on conflict (id) do update "
        "set organization_id = excluded.organization_id "
        "where public.workspaces.organization_id is null",
        WORKSPACE_ID,
        ORGANIZATION_ID,
        WORKSPACE_NAME,
    )
    await conn.executemany(
        "insert into public.user_roles (user_id, workspace_id, role) values ($1, $2, $3) "
        "on conflict (user_id, workspace_id) do nothing",
        [(p.id, WORKSPACE_ID, p.role) for p in PEOPLE],
    )


async def seed_show(conn: asyncpg.Connection, show: Show) -> None:
    """The show's event, and its cues if it has none, all standing by."""
    await conn.execute(
        "insert into public.events (id, workspace_id, production_id, name, type, starts_at, "
        "ends_at) values ($1, $2, $3, $4, 'show', now() + interval '1 hour', "
        "now() + interval '1 hour' + $5::int * interval '1 second') on conflict (id) do nothing",
        show.id,
        WORKSPACE_ID,
        show.production.id,
        show.name,
        sum(seconds for *_, seconds in show.cues),
    )
    if await conn.fetchval(
        "select exists(select from public.run_of_show where event_id = $1)", show.id
    ):
        return
    offsets = [sum(c[3] for c in show.cues[:i]) for i in range(len(show.cues))]
    await conn.executemany(
        "insert into public.run_of_show (event_id, production_id, position, cue, title, "
        "department, duration_seconds, planned_start) select $1, $2, $3, $4, $5, $6, $7, "
        "e.starts_at + $8::int * interval '1 second' from public.events e where e.id = $1",
        [
            (show.id, show.production.id, i, cue, title, department, seconds, offsets[i])
            for i, (cue, title, department, seconds) in enumerate(show.cues)
        ],
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
