"""metrics.systems: what each seed system's operators look at, on hand-made events and frames.

Events are built the way `feeds.events.normalise` builds them from the server's frames, with
the payload shapes the sandbox and Supabase send (a DELETE under REPLICA IDENTITY DEFAULT
carries its primary key only); every expected value is written out by hand.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from feeds.events import Event, StatusChange, SubscriptionChange
from metrics.schema import to_utc
from metrics.store import Store
from metrics.systems import (
    board_churn,
    column_moves,
    compare_streams,
    count_by,
    counter_check,
    counters_agree,
    customer_streams,
    held_events,
    presence_sessions,
    refused_joins,
    row_changes,
    server_reason,
    traffic,
)

T0 = 1_800_000_000.0
COUNTERS = ["presence_opt_in", "presence_visible", "presence_online"]


def utc(seconds: float) -> pd.Timestamp:
    """Epoch seconds as the snapshot's frames hold them (rounded to the nanosecond)."""
    return to_utc([seconds])[0]


def change(
    at: float,
    kind: str,
    record: dict | None = None,
    old: dict | None = None,
    *,
    channel: str = "task-updates",
    table: str = "project_tasks",
) -> Event:
    data = {"schema": "public", "table": table, "type": kind, "record": record, "old_record": old}
    return Event(
        at + 0.005,
        channel,
        "postgres_changes",
        kind,
        schema="public",
        table=table,
        commit_ts=at,
        latency_ms=5.0,
        payload={"ids": [1], "data": data},
    )


# ---- row_changes -----------------------------------------------------------------------------


def test_row_changes_flattens_new_and_old_values_and_skips_other_kinds():
    events = [
        Event(T0, "task-updates", "system", "ok"),
        change(T0 + 1, "INSERT", {"id": "a", "status": "todo"}),
        change(T0 + 2, "UPDATE", {"id": "a", "status": "review"}, {"id": "a", "status": "todo"}),
        Event(T0 + 3, "task-updates", "broadcast", "cursor-move", payload={"x": 1}),
    ]
    rows = row_changes(events, ["id", "status"])
    assert rows["event"].tolist() == ["INSERT", "UPDATE"]
    assert rows["status"].tolist() == ["todo", "review"]
    assert rows["old_status"].tolist()[1] == "todo"
    assert pd.isna(rows["old_status"].iloc[0])
    assert rows["time"].tolist() == [utc(T0 + 1.005), utc(T0 + 2.005)]
    assert rows["commit_ts"].tolist() == [utc(T0 + 1), utc(T0 + 2)]
    assert rows["latency_ms"].tolist() == [5.0, 5.0]


def test_row_changes_takes_a_deletes_values_from_its_old_record():
    full = change(T0, "DELETE", None, {"id": "a", "status": "done"})
    key_only = change(T0 + 1, "DELETE", None, {"id": 7}, channel="b", table="bookings")
    rows = row_changes([full, key_only], ["id", "status"])
    assert rows["id"].tolist() == ["a", 7]
    assert rows["status"].iloc[0] == "done"
    assert pd.isna(rows["status"].iloc[1])  # the server sent the primary key only


def test_row_changes_keeps_one_channel_when_asked():
    events = [
        change(T0, "INSERT", {"id": 1}, channel="bookings-changes"),
        change(T0 + 1, "INSERT", {"id": 2}, channel="trips-changes"),
    ]
    rows = row_changes(events, ["id"], channel="trips-changes")
    assert rows["id"].tolist() == [2]


def test_row_changes_of_nothing_still_has_its_columns():
    rows = row_changes([], ["id", "status"])
    assert rows.empty
    assert list(rows.columns) == [
        "time",
        "commit_ts",
        "channel",
        "schema",
        "table",
        "event",
        "latency_ms",
        "id",
        "old_id",
        "status",
        "old_status",
    ]
    assert str(rows["time"].dtype) == "datetime64[ns, UTC]"


def test_held_events_are_the_snapshots_events_with_payloads_oldest_first():
    store = Store(raw_events=10)
    store.record_status(StatusChange(T0, "connected"))
    events = [change(T0 + i, "UPDATE", {"id": i}, {"id": i}) for i in range(3)]
    for event in events:
        store.ingest(event)
    held = held_events(store.snapshot(now=T0 + 5))
    assert [e.payload["data"]["record"]["id"] for e in held] == [0, 1, 2]


# ---- EcoTrips --------------------------------------------------------------------------------


def replica(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", *COUNTERS]).assign(event="UPDATE")


def direct(rows: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["itinerary_id", *COUNTERS])


def test_counter_check_puts_each_counter_next_to_its_count():
    check = counter_check(
        replica([("itn-b", 5.0, 4.0, 2.0), ("itn-a", 7.0, 6.0, 1.0)]),
        direct([("itn-a", 7, 6, 1), ("itn-b", 5, 3, 2)]),
        "itinerary_id",
        COUNTERS,
    )
    assert check["itinerary_id"].tolist() == ["itn-a"] * 3 + ["itn-b"] * 3
    assert check["counter"].tolist() == COUNTERS * 2
    assert check["realtime"].tolist() == [7.0, 6.0, 1.0, 5.0, 4.0, 2.0]
    assert check["database"].tolist() == [7.0, 6.0, 1.0, 5.0, 3.0, 2.0]
    assert check["agrees"].tolist() == [True, True, True, True, False, True]
    assert not counters_agree(check)


def test_counter_check_marks_an_itinerary_the_channel_has_not_shown_yet():
    check = counter_check(
        replica([("itn-a", 7.0, 6.0, 1.0)]),
        direct([("itn-a", 7, 6, 1), ("itn-b", 5, 3, 2)]),
        "itinerary_id",
        COUNTERS,
    )
    unseen = check[check["itinerary_id"] == "itn-b"]
    assert unseen["seen"].tolist() == [False] * 3
    assert unseen["agrees"].tolist() == [False] * 3
    assert unseen["realtime"].isna().all()
    assert counters_agree(check)  # what the channel did show is right


def test_counters_agree_needs_at_least_one_counter_seen():
    check = counter_check(replica([]), direct([("itn-a", 1, 1, 1)]), "itinerary_id", COUNTERS)
    assert not counters_agree(check)


# ---- Layer 5 ---------------------------------------------------------------------------------


def task(status: str, position: int, assignee: str = "avery") -> dict:
    return {"id": "t1", "title": "Print credentials", "status": status,
            "position": position, "assignee_id": assignee}  # fmt: skip


def test_board_churn_tells_what_each_change_did():
    events = [
        change(T0, "INSERT", task("backlog", 0)),
        change(T0 + 1, "UPDATE", task("todo", 3), task("backlog", 0)),
        change(T0 + 2, "UPDATE", task("todo", 1), task("todo", 3)),
        change(T0 + 3, "UPDATE", task("todo", 1, "blake"), task("todo", 1)),
        change(T0 + 4, "DELETE", None, task("todo", 1, "blake")),
    ]
    churn = board_churn(row_changes(events, ["title", "status", "position", "assignee_id"]))
    assert churn["change"].tolist() == ["added", "moved", "reordered", "edited", "archived"]
    assert churn["from"].tolist()[1] == "backlog"
    assert churn["to"].tolist()[1] == "todo"
    assert churn["from"].isna().tolist() == [True, False, True, True, True]


def test_board_churn_does_not_call_an_update_without_its_old_row_a_reorder():
    # REPLICA IDENTITY DEFAULT: the old record has the key only, so nothing is known to move
    events = [change(T0, "UPDATE", task("review", 4), {"id": "t1"})]
    churn = board_churn(row_changes(events, ["status", "position"]))
    assert churn["change"].tolist() == ["edited"]


def test_column_moves_counts_moves_most_frequent_first():
    events = [
        change(T0, "UPDATE", task("review", 0), task("in_progress", 0)),
        change(T0 + 1, "UPDATE", task("in_progress", 0), task("review", 0)),
        change(T0 + 2, "UPDATE", task("review", 0), task("in_progress", 0)),
        change(T0 + 3, "INSERT", task("backlog", 0)),
    ]
    moves = column_moves(board_churn(row_changes(events, ["status", "position"])))
    assert moves.to_dict("records") == [
        {"from": "in_progress", "to": "review", "count": 2},
        {"from": "review", "to": "in_progress", "count": 1},
    ]


# ---- TripSage --------------------------------------------------------------------------------

REASON = (
    "Unauthorized: You do not have permissions to read from this Channel topic: "
    "session:20000000-0000-4000-9000-000000000003"
)


def subscriptions(changes: list[SubscriptionChange]) -> pd.DataFrame:
    store = Store()
    store.record_status(StatusChange(T0, "connected"))
    for c in changes:
        store.record_subscription(c)
    return store.snapshot(now=T0 + 60).subscriptions


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        (json.dumps({"reason": REASON}), REASON),
        ("timed out", "timed out"),
        ('{"status": "error"}', '{"status": "error"}'),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_server_reason_unwraps_the_join_reply(recorded, reason):
    assert server_reason(recorded) == reason


def test_refused_joins_lists_refused_channels_with_the_servers_reason():
    session3 = "session:20000000-0000-4000-9000-000000000003"
    error = json.dumps({"reason": REASON})
    subs = subscriptions(
        [
            SubscriptionChange(T0 + 1, "user:ana", "JOINING"),
            SubscriptionChange(T0 + 1.1, "user:ana", "SUBSCRIBED"),
            SubscriptionChange(T0 + 1, session3, "JOINING"),
            SubscriptionChange(T0 + 1.2, session3, "CHANNEL_ERROR", error),
            SubscriptionChange(T0 + 31.2, session3, "CHANNEL_ERROR", error),
            SubscriptionChange(T0 + 2, "slow", "TIMED_OUT", "timed out"),
        ]
    )
    refused = refused_joins(subs)
    assert refused["channel"].tolist() == [session3]
    assert refused["reason"].tolist() == [REASON]
    assert refused["refused_since"].tolist() == [utc(T0 + 1.2)]
    assert refused["last_refused"].tolist() == [utc(T0 + 31.2)]


def test_refused_joins_is_empty_when_every_join_succeeded():
    subs = subscriptions([SubscriptionChange(T0 + 1, "user:ana", "SUBSCRIBED")])
    refused = refused_joins(subs)
    assert refused.empty
    assert list(refused.columns) == ["channel", "reason", "refused_since", "last_refused"]


# ---- HomeSer ---------------------------------------------------------------------------------

PRIYA, MARCUS = "c1", "c2"


def booking(at: float, kind: str, id_: int, customer: str | None, status: str | None) -> Event:
    record = None if kind == "DELETE" else {"id": id_, "customer_id": customer, "status": status}
    return change(at, kind, record, {"id": id_}, channel="bookings", table="bookings")


def bookings(events: list[Event]) -> pd.DataFrame:
    return row_changes(events, ["id", "customer_id", "status"])


def test_customer_streams_split_by_customer_and_leave_key_only_deletes_out():
    rows = bookings(
        [
            booking(T0, "INSERT", 1, PRIYA, "pending"),
            booking(T0 + 1, "INSERT", 2, MARCUS, "pending"),
            booking(T0 + 2, "DELETE", 3, None, None),
            booking(T0 + 3, "UPDATE", 1, PRIYA, "confirmed"),
        ]
    )
    streams = customer_streams(rows, names={PRIYA: "Priya Nair"})
    assert streams["customer"].tolist() == ["Priya Nair", MARCUS, "Priya Nair"]
    assert streams["status"].tolist() == ["pending", "pending", "confirmed"]
    only = customer_streams(rows, customers=[PRIYA])
    assert only["id"].tolist() == [1, 1]
    assert only["customer"].tolist() == [PRIYA, PRIYA]


def test_compare_streams_finds_missed_and_unexpected_changes_in_the_window():
    whole = bookings(
        [
            booking(T0, "INSERT", 1, PRIYA, "pending"),  # before the window
            booking(T0 + 10, "UPDATE", 1, PRIYA, "confirmed"),
            booking(T0 + 11, "INSERT", 4, PRIYA, "pending"),  # missed
            booking(T0 + 12, "UPDATE", 1, PRIYA, "in_progress"),
        ]
    )
    own = bookings(
        [
            booking(T0 + 10, "UPDATE", 1, PRIYA, "confirmed"),
            booking(T0 + 12, "UPDATE", 1, PRIYA, "in_progress"),
            booking(T0 + 13, "UPDATE", 2, MARCUS, "confirmed"),  # not hers
            booking(T0 + 30, "UPDATE", 1, PRIYA, "completed"),  # after the window
        ]
    )
    compared = compare_streams(
        customer_streams(whole, customers=[PRIYA]), own, utc(T0 + 5), utc(T0 + 20)
    )
    assert compared["id"].tolist() == [1, 4, 1, 2]
    assert compared["seen"].tolist() == ["both", "missed", "both", "unexpected"]
    assert count_by(compared, ["seen"]).to_dict("records") == [
        {"seen": "both", "count": 2},
        {"seen": "missed", "count": 1},
        {"seen": "unexpected", "count": 1},
    ]


def test_compare_streams_counts_a_duplicate_delivery_once():
    first = booking(T0 + 10, "UPDATE", 1, PRIYA, "confirmed")
    whole, own = bookings([first]), bookings([first, first])
    compared = compare_streams(whole, own, utc(T0), utc(T0 + 20))
    assert compared["seen"].tolist() == ["both"]


# ---- Organiser dashboard ---------------------------------------------------------------------


def presence_log(rows: list[tuple[float, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [utc(t) for t, *_ in rows],
            "channel": "organisers",
            "key": [key for _, key, _, _ in rows],
            "action": [action for _, _, action, _ in rows],
            "meta": [meta for *_, meta in rows],
        }
    )


def meta(name: str) -> str:
    return json.dumps({"user_id": name.lower(), "user_name": name})


def test_presence_sessions_pair_joins_with_leaves_and_keep_who_is_online():
    log = presence_log(
        [
            (T0, "o1", "join", meta("Maya Fischer")),
            (T0, "o2", "join", meta("Ravi Iyer")),
            (T0 + 10, "o1", "leave", meta("Maya Fischer")),
            (T0 + 20, "o1", "join", meta("Maya Fischer")),
        ]
    )
    sessions = presence_sessions(log, utc(T0 + 30))
    assert sessions["name"].tolist() == ["Maya Fischer", "Maya Fischer", "Ravi Iyer"]
    assert sessions["joined"].tolist() == [utc(T0), utc(T0 + 20), utc(T0)]
    assert sessions["left"].tolist() == [utc(T0 + 10), utc(T0 + 30), utc(T0 + 30)]
    assert sessions["online"].tolist() == [False, True, True]


def test_presence_sessions_name_falls_back_to_the_key_and_keep_an_orphan_leave():
    log = presence_log(
        [
            (T0, "o3", "leave", '{"user_name":"Lena Sa…'),  # join fell out of the log; cut meta
            (T0 + 1, "o4", "join", json.dumps({"user_id": "o4"})),
        ]
    )
    sessions = presence_sessions(log, utc(T0 + 5))
    assert sessions["name"].tolist() == ["o3", "o4"]
    assert pd.isna(sessions["joined"].iloc[0])
    assert sessions["online"].tolist() == [False, True]


def test_presence_sessions_of_an_empty_log_have_the_frames_time_type():
    empty = presence_log([])
    sessions = presence_sessions(empty, utc(T0))
    assert sessions.empty
    assert str(sessions["joined"].dtype) == str(sessions["left"].dtype) == "datetime64[ns, UTC]"


# ---- counts ----------------------------------------------------------------------------------


def test_traffic_counts_user_messages_only():
    events = pd.DataFrame(
        {
            "channel": ["s1", "s1", "s1", "s2", "s1", "monitor"],
            "kind": ["broadcast", "broadcast", "broadcast", "broadcast", "system", "probe"],
            "event": ["chat:typing", "chat:message", "chat:typing", "chat:typing", "ok", "rtt"],
        }
    )
    assert traffic(events).to_dict("records") == [
        {"channel": "s1", "kind": "broadcast", "event": "chat:typing", "count": 2},
        {"channel": "s1", "kind": "broadcast", "event": "chat:message", "count": 1},
        {"channel": "s2", "kind": "broadcast", "event": "chat:typing", "count": 1},
    ]
