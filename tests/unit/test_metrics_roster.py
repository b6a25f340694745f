"""metrics.roster: presence_state reconciliation, presence_diff, de-duplication, bounds."""

from __future__ import annotations

from feeds.events import Event
from metrics.roster import JOIN, LEAVE, PresenceRoster, meta_summary


def state(t: float, channel: str, payload: dict) -> Event:
    return Event(t, channel, "presence", "presence_state", payload=payload)


def diff(t: float, channel: str, joins: dict | None = None, leaves: dict | None = None) -> Event:
    payload = {"joins": joins or {}, "leaves": leaves or {}}
    return Event(t, channel, "presence", "presence_diff", payload=payload)


def metas(*refs_and_fields: tuple[str, dict]) -> dict:
    return {"metas": [{"phx_ref": ref, **fields} for ref, fields in refs_and_fields]}


def log_lines(roster: PresenceRoster) -> list[tuple]:
    return [(c.at, c.channel, c.key, c.action) for c in roster.log]


def test_state_replaces_and_logs_joins():
    r = PresenceRoster()
    r.apply(state(1.0, "room", {"alice": metas(("A1", {})), "bob": metas(("B1", {}))}))
    assert r.count("room") == 2
    assert log_lines(r) == [(1.0, "room", "alice", JOIN), (1.0, "room", "bob", JOIN)]
    assert r.members("room")[0].joined_at == 1.0


def test_diff_joins_then_leaves_drops_empty_keys():
    r = PresenceRoster()
    r.apply(diff(1.0, "room", joins={"alice": metas(("A1", {"online": True}))}))
    r.apply(diff(2.0, "room", joins={"bob": metas(("B1", {}))}))
    r.apply(diff(3.0, "room", leaves={"alice": metas(("A1", {}))}))
    assert [m.key for m in r.members("room")] == ["bob"]
    assert log_lines(r) == [
        (1.0, "room", "alice", JOIN),
        (2.0, "room", "bob", JOIN),
        (3.0, "room", "alice", LEAVE),
    ]
    assert r.log[-1].meta == '{"online":true}'  # the leave carries the meta that left


def test_meta_update_leave_plus_join_same_key_logs_nothing_and_keeps_joined_at():
    r = PresenceRoster()
    r.apply(diff(1.0, "room", joins={"alice": metas(("A1", {"status": "idle"}))}))
    r.apply(
        diff(
            5.0,
            "room",
            joins={"alice": metas(("A2", {"status": "typing", "phx_ref_prev": "A1"}))},
            leaves={"alice": metas(("A1", {"status": "idle"}))},
        )
    )
    assert log_lines(r) == [(1.0, "room", "alice", JOIN)]
    (alice,) = r.members("room")
    assert list(alice.metas) == ["A2"]
    assert alice.joined_at == 1.0 and alice.updated_at == 5.0
    assert alice.summary == '{"status":"typing"}'


def test_multiple_metas_under_one_key_count_as_one_member():
    r = PresenceRoster()
    r.apply(diff(1.0, "room", joins={"alice": metas(("A1", {"tab": 1}))}))
    r.apply(diff(2.0, "room", joins={"alice": metas(("A2", {"tab": 2}))}))
    assert r.count("room") == 1
    assert len(r.members("room")[0].metas) == 2
    # one tab closes: still present, nothing logged
    r.apply(diff(3.0, "room", leaves={"alice": metas(("A1", {}))}))
    assert r.count("room") == 1 and len(r.log) == 1
    # a join with an equal phx_ref replaces that meta instead of adding one, and is the newest
    r.apply(diff(3.5, "room", joins={"alice": metas(("A3", {"tab": 3}))}))
    r.apply(diff(4.0, "room", joins={"alice": metas(("A2", {"tab": 22}))}))
    assert list(r.members("room")[0].metas) == ["A3", "A2"]
    assert r.members("room")[0].latest_meta["tab"] == 22
    r.apply(diff(4.5, "room", leaves={"alice": metas(("A3", {}))}))
    # the last tab closes: now it is a leave
    r.apply(diff(5.0, "room", leaves={"alice": metas(("A2", {}))}))
    assert r.count("room") == 0
    assert log_lines(r)[-1] == (5.0, "room", "alice", LEAVE)


def test_reconcile_after_new_state_logs_only_real_joins_and_leaves():
    r = PresenceRoster()
    r.apply(state(1.0, "room", {"alice": metas(("A1", {})), "bob": metas(("B1", {}))}))
    # reconnect: alice re-tracked with a new ref, bob gone, carol new
    r.apply(state(10.0, "room", {"alice": metas(("A9", {})), "carol": metas(("C1", {}))}))
    assert log_lines(r)[2:] == [(10.0, "room", "carol", JOIN), (10.0, "room", "bob", LEAVE)]
    alice = next(m for m in r.members("room") if m.key == "alice")
    assert alice.joined_at == 1.0 and list(alice.metas) == ["A9"]
    assert r.count("room") == 2


def test_channels_are_separate():
    r = PresenceRoster()
    r.apply(diff(1.0, "a", joins={"x": metas(("1", {}))}))
    r.apply(state(2.0, "b", {}))
    assert r.counts() == {"a": 1, "b": 0}
    r.apply(state(3.0, "b", {"y": metas(("2", {}))}))
    assert r.counts() == {"a": 1, "b": 1}


def test_bounds_evict_least_recently_updated_and_count():
    r = PresenceRoster(max_channels=2, max_keys=3, max_metas=2, log_size=4)
    for i in range(5):
        r.apply(diff(float(i), "room", joins={f"k{i}": metas((f"r{i}", {}))}))
    assert [m.key for m in r.members("room")] == ["k2", "k3", "k4"]
    assert r.evicted_keys == 2
    assert len(r.log) == 4  # the log is bounded too
    for j in range(3):
        r.apply(diff(10.0 + j, "room", joins={"k2": metas((f"m{j}", {}))}))
    assert list(r.members("room")[-1].metas) == ["m1", "m2"]
    assert r.evicted_metas == 2
    r.apply(state(20.0, "b", {}))
    r.apply(state(21.0, "c", {}))
    assert r.channels() == ["b", "c"] and r.evicted_channels == 1


def test_malformed_payloads_are_counted_not_raised():
    r = PresenceRoster()
    assert not r.apply(Event(1.0, "room", "presence", "presence_diff", payload={"joins": [1]}))
    r.apply(state(2.0, "room", {"alice": {"metas": "nope"}, "bob": metas(("B", {}))}))
    r.apply(diff(3.0, "room", joins={"carol": {"metas": [{"no_ref": 1}]}}))
    assert r.count("room") == 1
    assert r.malformed == 3


def test_meta_summary_hides_refs_and_truncates():
    assert meta_summary({"phx_ref": "x", "phx_ref_prev": "y", "b": 1, "a": "z"}) == (
        '{"a":"z","b":1}'
    )
    long = meta_summary({"text": "x" * 500})
    assert len(long) == 160 and long.endswith("…")
    assert meta_summary(None) == ""
