"""Layer 5 (seed 001): a production company's workspace at work.

One workspace (`Northlight Live`), three productions, four people. The roster (ids, names, roles,
productions, documents, budget lines, shows and their cues: `layer5_roster`) is fixed, the same
on every start and for every `--seed`, so watch profiles can name it (`profiles/layer5.toml`);
`--seed` drives the traffic (`ctx.rng`).
On start the scenario inserts whatever of the roster is missing (existing rows keep their state).

Then, at rate 1:

* **Task board** (about every 2 s): a task moves to the next column (`backlog -> todo ->
  in_progress -> review -> done`), sometimes back, or swaps places with its neighbour in its
  column (UPDATEs of `status`/`position`); now and then a task is reassigned or reprioritised, and
  a finished task is archived (DELETE) while a new one lands in the backlog (INSERT), so each
  board keeps 6-10 tasks. Written as the person moving it (role authenticated, their claims).
* **Budgets** (about every 4 s): a transaction is booked (INSERT into `financial_transactions`)
  and its budget line's `amount_spent` follows (UPDATE of `budgets`). Refunds grow likelier as a
  line fills up, so spending hovers around 85% of the allocation and crosses the line's alert
  threshold now and then, which notifies the production's manager. Each production keeps its
  newest 50 transactions.
* **Notifications** (about every 6 s, plus the board's and the budgets'): INSERTs into
  `notifications` for one person (RLS: only they receive them); each person keeps their newest 25,
  and some get marked read.
* **Productions** (about every 20 s): a production's status or dates change.
* **People** (`layer5_people`): each person online has a socket of their own, tracked on
  `user-presence` with the seed's meta; about every 12 s someone leaves, comes back or moves to
  another page; whoever is on a document page sends `cursor-move` broadcasts on `document:{id}`,
  about one a second in all.
* **Operations** (`layer5_ops`): an incident reported, assigned, escalated or resolved (about
  every 10 s); the next run-of-show cue called live (about every 8 s); an approval requested or
  decided (about every 12 s).

Everything is written as the person doing it, a member of the workspace (`user_roles`), so the
tables' RLS applies as it would to the app. Watched (`watch`): the task board, presence, and the
operations desk: `incident-updates`, `run-of-show-updates`, `approval-updates`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from . import layer5_ops
from .base import MONITOR_KEY, Scenario, ScenarioContext, watch_channel
from .common import acting_as, weighted
from .layer5_people import Crowd
from .layer5_roster import (
    COLUMNS,
    DOCUMENTS,
    NOTES,
    PEOPLE,
    PRIORITIES,
    PRODUCTIONS,
    TASK_TITLES,
    VENDORS,
    Person,
    Production,
    notify,
    person,
    seed,
)

MAX_TRANSACTIONS = 50  # per production
MIN_TASKS, MAX_TASKS = 6, 10  # per board
INBOX_WEIGHTS = (0.4, 0.2, 0.2, 0.2)  # Avery, who runs the biggest production, hears the most
POSITION_LIMIT = 1000  # a column is renumbered 0..n-1 when a position would pass this


class Layer5Demo(Scenario):
    name = "layer5"
    description = (
        "a Kanban board, budgets and transactions, notifications, cursors on documents, "
        "presence on user-presence, incidents, run-of-show cues and approvals"
    )
    watch = (  # the task board, who is viewing what, and the operations desk
        watch_channel("task-updates", broadcast=(), changes=[("public", "project_tasks")]),
        watch_channel("user-presence", presence_key=MONITOR_KEY),
        watch_channel("incident-updates", broadcast=(), changes=[("public", "incidents")]),
        watch_channel("run-of-show-updates", broadcast=(), changes=[("public", "run_of_show")]),
        watch_channel("approval-updates", broadcast=(), changes=[("public", "approval_requests")]),
    )

    async def run(self, ctx: ScenarioContext) -> None:
        async with ctx.db.acquire() as conn:
            await seed(conn)
        crowd = Crowd(ctx)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.board(ctx))
                tasks.create_task(self.budgets(ctx))
                tasks.create_task(self.inbox(ctx))
                tasks.create_task(self.productions(ctx))
                tasks.create_task(crowd.come_and_go())
                tasks.create_task(crowd.cursors())
                tasks.create_task(layer5_ops.incidents(ctx))
                tasks.create_task(layer5_ops.run_of_show(ctx))
                tasks.create_task(layer5_ops.approvals(ctx))
        finally:
            await crowd.disconnect()

    # --- the board ----------------------------------------------------------------------------

    async def board(self, ctx: ScenarioContext) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(2.0)
            production = weighted(rng, PRODUCTIONS, [p.weight for p in PRODUCTIONS])
            mover = rng.choice(PEOPLE)
            async with ctx.db.acquire() as conn:
                tasks = await conn.fetch(
                    "select id, title, status, position, assignee_id, priority "
                    "from public.project_tasks where production_id = $1 order by status, position",
                    production.id,
                )
                done = [t for t in tasks if t["status"] == "done"]
                roll = rng.random()
                if len(tasks) < MIN_TASKS or (roll < 0.12 and done and len(tasks) > MIN_TASKS - 1):
                    await self.rotate(ctx, conn, production, mover, tasks, done)
                elif roll < 0.22 and tasks:
                    await self.reassign(ctx, conn, production, mover, rng.choice(tasks))
                elif tasks:
                    open_tasks = [t for t in tasks if t["status"] != "done"] or tasks
                    await self.move(ctx, conn, production, mover, rng.choice(open_tasks), tasks)

    async def move(
        self,
        ctx: ScenarioContext,
        conn: asyncpg.Connection,
        production: Production,
        mover: Person,
        task: asyncpg.Record,
        tasks: list[asyncpg.Record],
    ) -> None:
        """Drag a task: within its column now and then, else to the next column (or back)."""
        rng = ctx.rng
        column = COLUMNS.index(task["status"])
        roll = rng.random()
        same = sorted(
            (t for t in tasks if t["status"] == task["status"]), key=lambda t: t["position"]
        )
        if roll < 0.15 and len(same) > 1:
            i = same.index(task)  # drag within the column: swap with a neighbour
            await self.swap(conn, mover, task, same[i + 1] if i + 1 < len(same) else same[i - 1])
            return
        step = -1 if (roll < 0.25 and column > 0) or column == len(COLUMNS) - 1 else 1
        target = COLUMNS[column + step]
        await self.advance(conn, production, mover, task, target)
        if target == "review" and task["assignee_id"] is not None:
            reviewer = rng.choice([p for p in PEOPLE if p.id != str(task["assignee_id"])])
            await notify(
                conn,
                reviewer.id,
                "review_requested",
                "Review requested",
                f"{person(str(task['assignee_id'])).name} moved \u201c{task['title']}\u201d "
                "to review",
                {"task_id": str(task["id"]), "production_id": production.id},
            )

    async def swap(
        self, conn: asyncpg.Connection, mover: Person, task: asyncpg.Record, other: asyncpg.Record
    ) -> None:
        async with acting_as(conn, mover.id):
            await conn.execute(
                "update public.project_tasks set position = $2 where id = $1",
                task["id"],
                other["position"],
            )
            await conn.execute(
                "update public.project_tasks set position = $2 where id = $1",
                other["id"],
                task["position"],
            )

    async def advance(
        self,
        conn: asyncpg.Connection,
        production: Production,
        mover: Person,
        task: asyncpg.Record,
        target: str,
    ) -> None:
        """Put the task last in column `target`, renumbering the column if positions run high."""
        async with acting_as(conn, mover.id):
            position = await conn.fetchval(
                "update public.project_tasks set status = $2, position = "
                "(select coalesce(max(position) + 1, 0) from public.project_tasks "
                " where production_id = $3 and status = $2) "
                "where id = $1 returning position",
                task["id"],
                target,
                production.id,
            )
            if position is not None and position > POSITION_LIMIT:
                await conn.execute(
                    "update public.project_tasks t set position = r.n from "
                    "(select id, row_number() over (order by position) - 1 as n "
                    " from public.project_tasks where production_id = $1 and status = $2) r "
                    "where t.id = r.id and t.position <> r.n",
                    production.id,
                    target,
                )

    async def reassign(
        self,
        ctx: ScenarioContext,
        conn: asyncpg.Connection,
        production: Production,
        mover: Person,
        task: asyncpg.Record,
    ) -> None:
        rng = ctx.rng
        if rng.random() < 0.5:
            async with acting_as(conn, mover.id):
                await conn.execute(
                    "update public.project_tasks set priority = $2 where id = $1",
                    task["id"],
                    rng.choice([p for p in PRIORITIES if p != task["priority"]]),
                )
            return
        assignee = rng.choice([p for p in PEOPLE if p.id != str(task["assignee_id"])])
        async with acting_as(conn, mover.id):
            await conn.execute(
                "update public.project_tasks set assignee_id = $2 where id = $1",
                task["id"],
                assignee.id,
            )
        await notify(
            conn,
            assignee.id,
            "task_assigned",
            "Task assigned to you",
            f"{mover.name} assigned you \u201c{task['title']}\u201d in {production.name}",
            {"task_id": str(task["id"]), "production_id": production.id},
        )

    async def rotate(
        self,
        ctx: ScenarioContext,
        conn: asyncpg.Connection,
        production: Production,
        mover: Person,
        tasks: list[asyncpg.Record],
        done: list[asyncpg.Record],
    ) -> None:
        """Archive a finished task (DELETE) and put a new one in the backlog (INSERT)."""
        rng = ctx.rng
        titles = {t["title"] for t in tasks}
        fresh = [t for t in TASK_TITLES if t not in titles] or list(TASK_TITLES)
        async with acting_as(conn, mover.id):
            if done and len(tasks) >= MIN_TASKS:
                await conn.execute(
                    "delete from public.project_tasks where id = $1", rng.choice(done)["id"]
                )
            if len(tasks) < MAX_TASKS:
                await conn.execute(
                    "insert into public.project_tasks "
                    "(production_id, title, status, position, assignee_id, priority, due_date) "
                    "values ($1, $2, 'backlog', (select coalesce(max(position) + 1, 0) "
                    "from public.project_tasks where production_id = $1 and status = 'backlog'), "
                    "$3, $4, current_date + $5::int)",
                    production.id,
                    rng.choice(fresh),
                    rng.choice(PEOPLE).id,
                    rng.choice(PRIORITIES),
                    rng.randint(3, 30),
                )

    # --- budgets ------------------------------------------------------------------------------

    async def budgets(self, ctx: ScenarioContext) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(4.0)
            production = weighted(rng, PRODUCTIONS, [p.weight for p in PRODUCTIONS])
            booker = rng.choice(PEOPLE)
            async with ctx.db.acquire() as conn:
                lines = await conn.fetch(
                    "select id, category, amount_allocated, amount_spent, alert_threshold "
                    "from public.budgets where production_id = $1",
                    production.id,
                )
                if not lines:
                    continue
                line = rng.choice(lines)
                allocated = line["amount_allocated"] or Decimal(1)
                used = float(line["amount_spent"] / allocated)
                refund = rng.random() < min(max(used - 0.35, 0.05), 0.95)
                amount = Decimal(str(round(rng.uniform(50, 2500), 2)))
                if refund:
                    amount = min(amount, line["amount_spent"])
                if amount <= 0:
                    continue
                vendor = rng.choice(VENDORS.get(line["category"], ("Misc vendor",)))
                await self.book(conn, production, booker, line, amount, vendor, refund=refund)

    async def book(
        self,
        conn: asyncpg.Connection,
        production: Production,
        booker: Person,
        line: asyncpg.Record,
        amount: Decimal,
        vendor: str,
        *,
        refund: bool,
    ) -> None:
        """Book a transaction on a budget line as `booker`, keep the production's newest ones,
        and tell the manager when spending crosses the line's alert threshold."""
        async with acting_as(conn, booker.id):
            await conn.execute(
                "insert into public.financial_transactions (production_id, budget_id, "
                "type, amount, description, vendor, created_by) "
                "values ($1, $2, $3, $4, $5, $6, $7)",
                production.id,
                line["id"],
                "refund" if refund else "expense",
                amount,
                f"{'Refund' if refund else 'Invoice'}: {line['category']}",
                vendor,
                booker.id,
            )
            spent = await conn.fetchval(
                "update public.budgets set amount_spent = greatest(amount_spent + $2, 0) "
                "where id = $1 returning amount_spent",
                line["id"],
                -amount if refund else amount,
            )
        await conn.execute(
            "delete from public.financial_transactions where production_id = $1 "
            "and id not in (select id from public.financial_transactions "
            "where production_id = $1 order by created_at desc, id limit $2)",
            production.id,
            MAX_TRANSACTIONS,
        )
        threshold = line["amount_allocated"] * line["alert_threshold"]
        if not refund and line["amount_spent"] < threshold <= spent:
            allocated = line["amount_allocated"] or Decimal(1)
            await notify(
                conn,
                production.manager.id,
                "budget_alert",
                "Budget alert",
                f"{production.name}: {line['category']} is at "
                f"{float(spent / allocated):.0%} of its budget",
                {"production_id": production.id, "budget_id": str(line["id"])},
            )

    # --- notifications and productions --------------------------------------------------------

    async def inbox(self, ctx: ScenarioContext) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(6.0)
            target = weighted(rng, PEOPLE, INBOX_WEIGHTS)
            sender = rng.choice([p for p in PEOPLE if p != target])
            kind, title, template = rng.choice(NOTES)
            what = rng.choice([*(d.title for d in DOCUMENTS), *(p.name for p in PRODUCTIONS)])
            async with ctx.db.acquire() as conn:
                await notify(
                    conn,
                    target.id,
                    kind,
                    title,
                    template.format(who=sender.name, what=what),
                    {"from": sender.id},
                )
                if rng.random() < 0.3:
                    async with acting_as(conn, target.id):  # the person reads their oldest unread
                        await conn.execute(
                            "update public.notifications set read_at = now() where id = "
                            "(select id from public.notifications where user_id = $1 "
                            "and read_at is null order by created_at limit 1)",
                            target.id,
                        )

    async def productions(self, ctx: ScenarioContext) -> None:
        rng = ctx.rng
        while True:
            await ctx.sleep(20.0)
            production = rng.choice(PRODUCTIONS)
            async with ctx.db.acquire() as conn, acting_as(conn, production.manager.id):
                if rng.random() < 0.4:
                    await conn.execute(
                        "update public.productions set status = case status "
                        "when 'wrapped' then 'planning' else (array['planning', 'pre_production',"
                        " 'in_production', 'post_production', 'wrapped'])"
                        "[array_position(array['planning', 'pre_production', 'in_production',"
                        " 'post_production', 'wrapped'], status) + 1] end where id = $1",
                        production.id,
                    )
                else:
                    await conn.execute(
                        "update public.productions set end_date = greatest(start_date, "
                        "end_date + $2::int) where id = $1",
                        production.id,
                        rng.choice((-1, 1, 2)),
                    )
