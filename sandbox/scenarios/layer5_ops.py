"""Layer 5's production operations, as the `layer5` scenario runs them: incidents on site, the
run of show's cues, and approvals. Kept apart from the board, budgets and people (`layer5`),
which are the seed's own snippets; these are the module tables a Layer 5 operator watches too.

At rate 1:

* **Incidents** (about every 10 s): someone reports an incident (INSERT into `incidents`, status
  `open`) or the oldest active one moves on: `investigating` (assigned), then `escalated` (always
  when high or critical, sometimes when medium: severity up a step, the next person up is
  notified), then `resolved` with a resolution. At most 3 are active; the workspace keeps its
  newest 20 (older ones are archived: DELETE).
* **Run of show** (about every 8 s): the stage manager calls the next cue of a show: the live
  cue is `done` and the next one `live` (two UPDATEs of `run_of_show`), now and then a cue is
  `skipped`. The show's event goes `live` with its first cue and `completed` after its last;
  the next call resets the show, every cue back to `standby`, for its next performance.
* **Approvals** (about every 12 s): someone asks for a sign-off (INSERT into `approval_requests`,
  `pending`, and a notification to the approver) or the oldest pending request is decided by its
  approver (`approved` three times in four, else `rejected`; the requester is notified) or, now
  and then, cancelled by its requester. At most 4 wait at once; the workspace keeps its newest 30.

Every write is made as the person doing it (role authenticated, their claims), so RLS applies.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from .base import ScenarioContext
from .common import acting_as, weighted
from .layer5_roster import (
    APPROVALS,
    DECISIONS,
    DOCUMENTS,
    INCIDENTS,
    PEOPLE,
    PRODUCTIONS,
    RESOLUTIONS,
    SHOWS,
    VENDORS,
    WORKSPACE_ID,
    Person,
    Show,
    escalation,
    manager_of,
    notify,
    person,
)

MAX_ACTIVE_INCIDENTS = 3
MAX_INCIDENTS = 20  # per workspace
MAX_PENDING_APPROVALS = 4
MAX_APPROVALS = 30  # per workspace
SEVERITIES = ("low", "medium", "high", "critical")
ACTIVE = ("open", "investigating", "escalated")


# --- incidents --------------------------------------------------------------------------------


async def incidents(ctx: ScenarioContext) -> None:
    rng = ctx.rng
    while True:
        await ctx.sleep(10.0)
        async with ctx.db.acquire() as conn:
            active = await conn.fetch(
                "select id, title, category, severity, status, production_id, assigned_to "
                "from public.incidents where workspace_id = $1 and status = any($2::text[]) "
                "order by created_at, id",
                WORKSPACE_ID,
                list(ACTIVE),
            )
            if not active or (len(active) < MAX_ACTIVE_INCIDENTS and rng.random() < 0.3):
                await open_incident(ctx, conn, {r["title"] for r in active})
            else:
                await advance_incident(ctx, conn, active[0])


async def open_incident(ctx: ScenarioContext, conn: asyncpg.Connection, active: set[str]) -> None:
    rng = ctx.rng
    production = weighted(rng, PRODUCTIONS, [p.weight for p in PRODUCTIONS])
    title, category, severity, where = rng.choice([i for i in INCIDENTS if i[0] not in active])
    reporter = rng.choice(PEOPLE)
    show = next((s.id for s in SHOWS if s.production == production), None)
    async with acting_as(conn, reporter.id):
        await conn.execute(
            "insert into public.incidents (workspace_id, production_id, event_id, title, "
            "description, category, severity, location, reported_by) "
            "values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            WORKSPACE_ID,
            production.id,
            show,
            title,
            f"Reported by {reporter.name} on the radio",
            category,
            severity,
            where,
            reporter.id,
        )
    await conn.execute(
        "delete from public.incidents where workspace_id = $1 and status <> all($2::text[]) "
        "and id not in (select id from public.incidents where workspace_id = $1 "
        "order by created_at desc, id limit $3)",
        WORKSPACE_ID,
        list(ACTIVE),
        MAX_INCIDENTS,
    )


async def advance_incident(
    ctx: ScenarioContext, conn: asyncpg.Connection, incident: asyncpg.Record
) -> None:
    """The incident's next step: assigned, escalated (by its severity) or resolved."""
    rng = ctx.rng
    production_id = str(incident["production_id"])
    if incident["status"] == "open":
        handler = manager_of(production_id) if rng.random() < 0.5 else rng.choice(PEOPLE)
        async with acting_as(conn, handler.id):
            await conn.execute(
                "update public.incidents set status = 'investigating', assigned_to = $2 "
                "where id = $1",
                incident["id"],
                handler.id,
            )
        return
    handler = person(str(incident["assigned_to"]))
    severity = SEVERITIES.index(incident["severity"])
    escalate = incident["status"] == "investigating" and (
        severity >= 2 or (severity == 1 and rng.random() < 0.3)
    )
    if escalate:
        await escalate_incident(conn, incident, handler, SEVERITIES[min(severity + 1, 3)])
        return
    async with acting_as(conn, handler.id):
        await conn.execute(
            "update public.incidents set status = 'resolved', resolved_at = now(), "
            "resolution = $2 where id = $1",
            incident["id"],
            rng.choice(RESOLUTIONS[incident["category"]]),
        )


async def escalate_incident(
    conn: asyncpg.Connection, incident: asyncpg.Record, handler: Person, severity: str
) -> None:
    production_id = str(incident["production_id"])
    above = escalation(production_id, handler)
    async with acting_as(conn, handler.id):
        await conn.execute(
            "update public.incidents set status = 'escalated', severity = $2, "
            "escalated_at = now(), assigned_to = $3 where id = $1",
            incident["id"],
            severity,
            above.id,
        )
    await notify(
        conn,
        above.id,
        "incident_escalated",
        "Incident escalated",
        f"{handler.name} escalated \u201c{incident['title']}\u201d ({severity})",
        {"incident_id": str(incident["id"]), "production_id": production_id},
    )


# --- the run of show --------------------------------------------------------------------------


async def run_of_show(ctx: ScenarioContext) -> None:
    rng = ctx.rng
    weights = [s.production.weight for s in SHOWS]
    while True:
        await ctx.sleep(8.0)
        show = weighted(rng, SHOWS, weights)
        async with ctx.db.acquire() as conn:
            await call_cue(ctx, conn, show)


async def call_cue(ctx: ScenarioContext, conn: asyncpg.Connection, show: Show) -> None:
    """The next cue goes live and the live one is done; after the last, the show resets."""
    caller = show.production.manager
    cues = await conn.fetch(
        "select id, position, status from public.run_of_show where event_id = $1 order by position",
        show.id,
    )
    live = [c for c in cues if c["status"] == "live"]
    after = live[0]["position"] if live else -1
    waiting = [c for c in cues if c["status"] == "standby" and c["position"] > after]
    if waiting and len(waiting) > 1 and live and ctx.rng.random() < 0.08:
        skipped, waiting = waiting[0], waiting[1:]
    else:
        skipped = None
    async with acting_as(conn, caller.id):
        if live:
            await set_cue(conn, live[0]["id"], "done", caller)
        if skipped is not None:
            await set_cue(conn, skipped["id"], "skipped", caller)
        if waiting:
            await set_cue(conn, waiting[0]["id"], "live", caller)
        status = "live" if waiting else "completed" if live else "scheduled"
        if not waiting and not live:  # every cue is done: the show's next performance
            await conn.execute(
                "update public.run_of_show set status = 'standby', started_at = null, "
                "ended_at = null, called_by = null where event_id = $1",
                show.id,
            )
        await conn.execute(
            "update public.events set status = $2, starts_at = case when $2 = 'scheduled' "
            "then now() + interval '1 hour' else starts_at end "
            "where id = $1 and status <> $2",
            show.id,
            status,
        )


async def set_cue(conn: asyncpg.Connection, cue_id: object, status: str, caller: Person) -> None:
    """A cue called live (started now), done (ended now) or skipped, by `caller`."""
    await conn.execute(
        "update public.run_of_show set status = $2, "
        "started_at = case when $2 = 'live' then now() else started_at end, "
        "ended_at = case when $2 = 'done' then now() else ended_at end, "
        "called_by = case when $2 = 'done' then called_by else $3 end where id = $1",
        cue_id,
        status,
        caller.id,
    )


# --- approvals --------------------------------------------------------------------------------


async def approvals(ctx: ScenarioContext) -> None:
    rng = ctx.rng
    while True:
        await ctx.sleep(12.0)
        async with ctx.db.acquire() as conn:
            pending = await conn.fetch(
                "select id, title, production_id, requested_by, approver_id "
                "from public.approval_requests where workspace_id = $1 and status = 'pending' "
                "order by created_at, id",
                WORKSPACE_ID,
            )
            if not pending or (len(pending) < MAX_PENDING_APPROVALS and rng.random() < 0.4):
                await request_approval(ctx, conn)
            else:
                await decide(ctx, conn, pending[0])


async def request_approval(ctx: ScenarioContext, conn: asyncpg.Connection) -> None:
    rng = ctx.rng
    production = weighted(rng, PRODUCTIONS, [p.weight for p in PRODUCTIONS])
    requester = rng.choice(PEOPLE)
    approver = escalation(production.id, requester)
    kind, template, amounts = rng.choice(APPROVALS)
    title = template.format(
        vendor=rng.choice([v for vs in VENDORS.values() for v in vs]),
        what=rng.choice([*(d.title for d in DOCUMENTS), production.name]),
        who=rng.choice(PEOPLE).name,
    )
    amount = Decimal(str(round(rng.uniform(*amounts), -1))) if amounts else None
    async with acting_as(conn, requester.id):
        request_id = await conn.fetchval(
            "insert into public.approval_requests (workspace_id, production_id, entity_type, "
            "title, amount, requested_by, approver_id) values ($1, $2, $3, $4, $5, $6, $7) "
            "returning id",
            WORKSPACE_ID,
            production.id,
            kind,
            title,
            amount,
            requester.id,
            approver.id,
        )
    await conn.execute(
        "delete from public.approval_requests where workspace_id = $1 and status <> 'pending' "
        "and id not in (select id from public.approval_requests where workspace_id = $1 "
        "order by created_at desc, id limit $2)",
        WORKSPACE_ID,
        MAX_APPROVALS,
    )
    await notify(
        conn,
        approver.id,
        "approval_request",
        "Approval requested",
        f"{requester.name} asked you to approve \u201c{title}\u201d",
        {"approval_request_id": str(request_id), "production_id": production.id},
    )


async def decide(ctx: ScenarioContext, conn: asyncpg.Connection, request: asyncpg.Record) -> None:
    """The approver approves or rejects; now and then the requester withdraws it first."""
    rng = ctx.rng
    requester = person(str(request["requested_by"]))
    if rng.random() < 0.06:
        async with acting_as(conn, requester.id):
            await conn.execute(
                "update public.approval_requests set status = 'cancelled' where id = $1",
                request["id"],
            )
        return
    approver = person(str(request["approver_id"]))
    status = "approved" if rng.random() < 0.75 else "rejected"
    async with acting_as(conn, approver.id):
        await conn.execute(
            "update public.approval_requests set status = $2, decided_at = now(), "
            "decision_note = $3 where id = $1",
            request["id"],
            status,
            rng.choice(DECISIONS[status]),
        )
    await notify(
        conn,
        requester.id,
        f"approval_{status}",
        f"Request {status}",
        f"{approver.name} {status} \u201c{request['title']}\u201d",
        {"approval_request_id": str(request["id"]), "production_id": str(request["production_id"])},
    )
