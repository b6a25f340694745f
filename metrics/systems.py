"""What each seed system's operators look at, computed from a monitor's snapshot.

The five systems the product comes from watch different things on the same Realtime: EcoTrips
its live-slot counters, Layer 5 its task board, TripSage who may join which private channel,
HomeSer each customer's booking stream, the organiser dashboard who is online. The functions
here turn a snapshot's frames (or the events it holds, payloads included) into tidy frames for
those questions, one function per question; `notebooks/seed_systems.ipynb` calls them and plots.
All are pure: frames in, new frames out, times as `datetime64[ns, UTC]`.

* `held_events`, `row_changes`: postgres_changes flattened, one row per change, with the chosen
  columns of the row after the change and before it.
* EcoTrips: `counter_check`, `counters_agree`: live-slot counters as Realtime delivered them next
  to the same counters counted directly in the database.
* Layer 5: `board_churn`, `column_moves`: what each change did to the Kanban board.
* TripSage: `refused_joins`, `server_reason`: channels the server would not let the monitor
  join, in the server's words.
* HomeSer: `customer_streams`, `compare_streams`: bookings split by customer, and one customer's
  own channel checked against what the whole table's stream says it should carry.
* Organiser: `presence_sessions`: each stretch a member was present.
* `traffic`, `count_by`: counts to put in a bar chart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from feeds.events import CHANNEL_ERROR, Event
from metrics.schema import UTC_NS, frame, to_utc
from metrics.snapshot import Snapshot

CHANGE_COLUMNS = {
    "time": "time",
    "commit_ts": "time",
    "channel": "str",
    "schema": "str",
    "table": "str",
    "event": "str",
    "latency_ms": "float64",
}
USER_KINDS = ("broadcast", "postgres_changes", "presence")
NAME_FIELDS = ("user_name", "name")


def held_events(snap: Snapshot) -> list[Event]:
    """Every event the snapshot still holds, oldest first, payloads included (the Inspector's
    rows; the `events` frame leaves payloads out)."""
    return [event for _, event in snap.events_after(snap.first_seq - 1)]


def row_changes(
    events: Iterable[Event], columns: Sequence[str] = (), *, channel: str | None = None
) -> pd.DataFrame:
    """One row per postgres_changes event (of `channel`, if given), in arrival order: arrival
    and commit times, where, the change type, its latency, and for each of `columns` the value
    after the change (`col`) and before it (`old_col`, None when the server sent no old value).

    A DELETE has no row after it, so its `col` is the old record's value. With REPLICA IDENTITY
    DEFAULT, Supabase sends a DELETE's (and an UPDATE's) old record with the primary key only,
    so other columns are None there: that is the server's doing, not a gap in the monitor."""
    rows: dict[str, list[Any]] = {name: [] for name in CHANGE_COLUMNS}
    for name in columns:
        rows[name], rows[f"old_{name}"] = [], []
    for e in events:
        if e.kind != "postgres_changes" or (channel is not None and e.channel != channel):
            continue
        data = e.payload.get("data") or {}
        old = data.get("old_record") or {}
        after = old if e.event == "DELETE" else data.get("record") or {}
        for name, value in zip(
            CHANGE_COLUMNS,
            (e.received_at, e.commit_ts, e.channel, e.schema, e.table, e.event, e.latency_ms),
            strict=True,
        ):
            rows[name].append(value)
        for name in columns:
            rows[name].append(after.get(name))
            rows[f"old_{name}"].append(old.get(name))
    for name in ("time", "commit_ts"):
        rows[name] = to_utc(np.array(rows[name], dtype=float))
    return frame(rows, CHANGE_COLUMNS)


# ---- EcoTrips: live-slot counters against the database ---------------------------------------


def counter_check(
    replica: pd.DataFrame, direct: pd.DataFrame, key: str, counters: Sequence[str]
) -> pd.DataFrame:
    """Each key's counters as the monitor's replica holds them (`realtime`: what the channel
    delivered) next to the same counters counted in the database (`database`), tidy: one row per
    key and counter. `seen` is False for a key the replica has no row for yet (Realtime sends
    changes, not state: a row that has not changed since the monitor joined is unknown to it);
    `agrees` is True where both sides are known and equal."""
    counters = list(counters)
    ours = replica[["key", *counters]].rename(columns={"key": key})
    theirs = direct[[key, *counters]]
    ours = ours.assign(**{key: ours[key].astype(str)})
    theirs = theirs.assign(**{key: theirs[key].astype(str)})
    melt = {"id_vars": key, "value_vars": counters, "var_name": "counter"}
    out = pd.merge(
        ours.melt(**melt, value_name="realtime"),
        theirs.melt(**melt, value_name="database"),
        on=[key, "counter"],
        how="outer",
    )
    out["realtime"] = out["realtime"].astype(float)
    out["database"] = out["database"].astype(float)
    out["seen"] = out["realtime"].notna()
    out["agrees"] = out["seen"] & (out["realtime"] == out["database"])
    order = {name: i for i, name in enumerate(counters)}
    out = out.sort_values(
        [key, "counter"], key=lambda s: s.map(order) if s.name == "counter" else s
    )
    return out.reset_index(drop=True)


def counters_agree(check: pd.DataFrame) -> bool:
    """Every counter the replica knows equals the database's, and it knows at least one."""
    seen = check[check["seen"]]
    return bool(len(seen)) and bool(seen["agrees"].all())


# ---- Layer 5: the task board -----------------------------------------------------------------


def board_churn(
    changes: pd.DataFrame, column: str = "status", order: str = "position"
) -> pd.DataFrame:
    """What each change of a board's cards did, as `change`: `added` (INSERT), `archived`
    (DELETE), `moved` to another `column` (`from` -> `to`), `reordered` within its column (only
    `order` changed) or `edited` (anything else: assignee, priority, title). Needs `row_changes`
    with `column` and `order`, and full old records (REPLICA IDENTITY FULL, as Layer 5's
    `project_tasks` has) to tell a move from an edit."""
    new, old = changes[column], changes[f"old_{column}"]
    moved = changes["event"].eq("UPDATE") & old.notna() & new.ne(old)
    old_order = changes[f"old_{order}"]
    reordered = (
        changes["event"].eq("UPDATE") & ~moved & old_order.notna() & changes[order].ne(old_order)
    )
    kind = np.select(
        [changes["event"].eq("INSERT"), changes["event"].eq("DELETE"), moved, reordered],
        ["added", "archived", "moved", "reordered"],
        "edited",
    )
    out = changes.assign(change=kind)
    out["from"] = old.where(moved)
    out["to"] = new.where(moved)
    return out


def column_moves(churn: pd.DataFrame) -> pd.DataFrame:
    """How many cards moved from each column to each other one (most frequent first)."""
    moves = churn[churn["change"] == "moved"]
    return count_by(moves, ["from", "to"])


# ---- TripSage: refused joins -----------------------------------------------------------------


def server_reason(error: Any) -> str:
    """The server's reason from a recorded join error: realtime-py reports a refused join as its
    reply payload, `{"reason": "..."}`; anything else is returned as it was recorded."""
    if not isinstance(error, str):
        return ""
    try:
        reply = json.loads(error)
    except ValueError:
        return error
    if isinstance(reply, dict) and isinstance(reply.get("reason"), str):
        return reply["reason"]
    return error


def refused_joins(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """Channels the server refused to join and still refuses (state CHANNEL_ERROR): the channel,
    the server's reason, since when, and the latest refusal (the client keeps asking, and the
    server keeps answering the same)."""
    refused = subscriptions[subscriptions["state"] == CHANNEL_ERROR]
    errors = refused["last_error"].where(refused["last_error"].notna(), refused["error"])
    return pd.DataFrame(
        {
            "channel": refused["channel"].to_numpy(),
            "reason": [server_reason(e) for e in errors],
            "refused_since": refused["since"].to_numpy(),
            "last_refused": refused["last_error_at"].to_numpy(),
        }
    )


# ---- HomeSer: per-customer booking streams ---------------------------------------------------


def customer_streams(
    changes: pd.DataFrame,
    column: str = "customer_id",
    names: Mapping[str, str] | None = None,
    customers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The changes that name a customer in `column` (of `customers`, if given), each with a
    `customer` label from `names` (the id itself when unnamed). A DELETE sent with the primary
    key only names nobody, so it is in no customer's stream, as on the customer's own channel."""
    rows = changes[changes[column].notna()]
    if customers is not None:
        rows = rows[rows[column].isin(list(customers))]
    labels = [(names or {}).get(c, c) for c in rows[column]]
    return rows.assign(customer=pd.array(labels, dtype="str")).reset_index(drop=True)


def compare_streams(
    expected: pd.DataFrame,
    received: pd.DataFrame,
    since: pd.Timestamp,
    until: pd.Timestamp,
    on: Sequence[str] = ("commit_ts", "table", "event", "id"),
) -> pd.DataFrame:
    """Two streams of row changes matched on `on`, over the changes committed in [since, until]
    (the time both were watching): each change once, with `seen` = `both`, `missed` (expected
    but not received) or `unexpected` (received but not expected: another customer's row on a
    customer's channel would be one)."""
    on = list(on)

    def window(rows: pd.DataFrame) -> pd.DataFrame:
        inside = rows["commit_ts"].between(since, until)
        return rows.loc[inside, on].drop_duplicates()

    out = pd.merge(window(expected), window(received), on=on, how="outer", indicator="seen")
    labels = {"both": "both", "left_only": "missed", "right_only": "unexpected"}
    out["seen"] = out["seen"].map(labels).astype("str")
    return out.sort_values(on).reset_index(drop=True)


# ---- Organiser dashboard: presence -----------------------------------------------------------


def _member_name(meta: Any, key: str) -> str:
    """The name a member's meta gives (the seed's `user_name`), else their key."""
    try:
        fields = json.loads(meta) if isinstance(meta, str) else {}
    except ValueError:  # a meta summary cut short for the log
        fields = {}
    for name in NAME_FIELDS:
        if isinstance(fields, dict) and isinstance(fields.get(name), str):
            return fields[name]
    return key


def presence_sessions(presence_log: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Each stretch a member was present on a channel, from the join/leave log: channel, key,
    name, joined, left, and `online` for who is still there (their `left` is `now`). A member
    present before the monitor joined is logged when the monitor's first `presence_state`
    arrived; a leave whose join fell out of the bounded log has `joined` NaT."""
    open_: dict[tuple[str, str], tuple[pd.Timestamp, str]] = {}
    rows: list[tuple[Any, ...]] = []
    for r in presence_log.sort_values("time", kind="stable").itertuples(index=False):
        member = (r.channel, r.key)
        if r.action == "join":
            open_.setdefault(member, (r.time, r.meta))
        elif r.action == "leave":
            joined, meta = open_.pop(member, (pd.NaT, r.meta))
            rows.append((*member, _member_name(meta, r.key), joined, r.time, False))
    for (channel, key), (joined, meta) in open_.items():
        rows.append((channel, key, _member_name(meta, key), joined, now, True))
    columns = ["channel", "key", "name", "joined", "left", "online"]
    out = pd.DataFrame(rows, columns=columns)
    for name in ("joined", "left"):
        out[name] = pd.to_datetime(out[name], utc=True).astype(UTC_NS)
    for name in ("channel", "key", "name"):
        out[name] = out[name].astype("str")
    out["online"] = out["online"].astype(bool)
    return out.sort_values(["channel", "name", "joined"]).reset_index(drop=True)


# ---- counts ----------------------------------------------------------------------------------


def count_by(rows: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """How many rows have each combination of `columns`, most frequent first (ties in order)."""
    columns = list(columns)
    counts = rows.groupby(columns, dropna=False, sort=True).size().rename("count")
    return (
        counts.reset_index()
        .sort_values("count", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def traffic(events: pd.DataFrame) -> pd.DataFrame:
    """User messages held, by channel, kind and event (the monitor's probes and the server's
    `system` replies left out), most frequent first."""
    user = events[events["kind"].isin(USER_KINDS)]
    return count_by(user, ["channel", "kind", "event"])
