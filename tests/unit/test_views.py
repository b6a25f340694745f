"""The views outside `panel serve`: built in a plain asyncio program (as in a notebook), they
refresh themselves from the store; Overview and the wall colour the same state the same way."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from dashboards.headline import channels_level, headline
from dashboards.inspector import Inspector
from dashboards.overview import Overview, tiles_markup
from dashboards.slots import Slots
from dashboards.wall import Wall, head_markup
from feeds.events import Event, StatusChange, SubscriptionChange
from metrics.settings import AlertsConfig
from metrics.shared import SharedSnapshots
from metrics.store import Store


def shared() -> SharedSnapshots:
    return SharedSnapshots(store=Store(), alerts=AlertsConfig(), channels=["room"])


def tick(t: float, i: int = 0) -> Event:
    return Event(t, "room", "broadcast", "tick", size=10, payload={"i": i})


def slot(t: float, online: int) -> Event:
    record = {"itinerary_id": "it-1", "presence_online": online}
    return Event(
        t,
        "slots",
        "postgres_changes",
        "UPDATE",
        schema="group",
        table="live_slots",
        commit_ts=t - 0.01,
        latency_ms=10.0,
        size=100,
        payload={"data": {"type": "UPDATE", "record": record}},
    )


async def test_views_refresh_from_the_store_on_a_plain_event_loop():
    data = shared()
    overview = Overview(data=data, update_ms=50, chart_ms=200)
    slots = Slots(data=data, update_ms=50, chart_ms=200)
    inspector = Inspector(data=data, update_ms=50, chart_ms=200)
    for view in (overview, slots, inspector):
        view.__panel__()  # what displaying it does: starts its callback on this loop
    try:
        assert "0 total" in overview.tiles.object
        store = data.store
        now = time.time()
        store.record_status(StatusChange(now, "connected", None))
        store.record_subscription(SubscriptionChange(now, "room", "SUBSCRIBED"))
        for i in range(20):
            store.ingest(tick(now, i))
        store.ingest(slot(now, 7))
        deadline = time.monotonic() + 5
        while "21 total" not in overview.tiles.object or len(inspector.table.value) < 21:
            assert time.monotonic() < deadline, (overview.tiles.object, len(inspector.table.value))
            await asyncio.sleep(0.05)
        assert 'data-status="connected"' in overview.status.object
        assert "room · SUBSCRIBED" in overview.chips.object
        assert re.search(r'data-counter="presence_online">7<', slots.cards.pane.object)
        # the fast path: a counter change shows within a few update periods, not a second
        store.ingest(slot(time.time(), 8))
        deadline = time.monotonic() + 0.5
        while 'data-counter="presence_online">8<' not in slots.cards.pane.object:
            assert time.monotonic() < deadline, "the live-slot card did not follow"
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 2
        while inspector.table.value["seq"].tolist()[-1] != 22:
            assert time.monotonic() < deadline, "the inspector did not stream the new event"
            await asyncio.sleep(0.05)
    finally:
        for view in (overview, slots, inspector):
            view.stop()
    updates = overview.updates
    await asyncio.sleep(0.3)
    assert overview.updates == updates, "a stopped view kept refreshing"


@pytest.mark.parametrize(
    ("states", "level"),
    [
        ({}, "nodata"),
        ({"SUBSCRIBED": 3}, "ok"),
        ({"SUBSCRIBED": 2, "JOINING": 1}, "warn"),
        ({"SUBSCRIBED": 2, "CHANNEL_ERROR": 1}, "alert"),
        ({"JOINING": 1, "TIMED_OUT": 1}, "alert"),
    ],
)
def test_channels_level(states, level):
    assert channels_level(states) == level


def tile_levels(markup: str, prefix: str) -> dict[str, str]:
    """Tile key -> the colour variable its markup carries."""
    found = re.findall(rf'style="--lvl:([^"]+)" data-testid="{prefix}-(\w+)"', markup)
    return {key: color for color, key in found}


def test_overview_and_wall_colour_each_state_alike():
    data = shared()
    store = data.store
    store.record_status(StatusChange(100.0, "connected", None))
    store.record_subscription(SubscriptionChange(100.0, "room", "SUBSCRIBED"))
    store.record_subscription(SubscriptionChange(100.0, "other", "JOINING"))
    store.ingest(slot(101.0, 3))
    states = []
    for now in (102.0, 700.0):  # with data, and long after it (rate rule off, latency gone)
        snap = store.snapshot(now=now)
        checks = data.checks(snap)
        tiles = headline(snap, checks)
        assert tiles["subs"].level == "warn"  # one channel still joining
        assert tiles["rate"].level == "info"  # no rule for the rate by default
        overview = tile_levels(tiles_markup(snap, data), "tile")
        wall = tile_levels(head_markup(snap, checks, "T", 10.0), "wall")
        assert set(wall) == {"uptime", "rate", "p95", "subs", "reconnects"}
        for key, color in wall.items():
            assert overview[key] == color, key
        states.append(tiles["p95"].level)
    assert states == ["ok", "nodata"]


def test_the_wall_is_stale_when_no_event_arrives():
    data = shared()
    wall = Wall(data=data, stale_after_s=4)
    store = data.store
    store.record_status(StatusChange(100.0, "connected", None))
    store.ingest(tick(101.0))
    fresh = head_markup(store.snapshot(now=103.0), {}, "T", 4)
    stale = head_markup(store.snapshot(now=106.0), {}, "T", 4)
    assert "stale-banner" not in fresh
    assert "STALE · data is 5.0 s old" in stale
    assert wall.title == "Realtime Monitor"


def test_the_wall_names_every_failing_channel_and_counts_the_rest():
    from dashboards.wall import channels_markup

    store = Store()
    for i in range(12):
        state = "CHANNEL_ERROR" if i in (3, 9) else "SUBSCRIBED"
        store.record_subscription(SubscriptionChange(100.0, f"room-{i}", state))
    markup = channels_markup(store.snapshot(now=101.0))
    assert markup.count('class="rm-wall-chip"') == 8
    assert "room-3 · CHANNEL_ERROR" in markup and "room-9 · CHANNEL_ERROR" in markup
    assert "+5 more subscribed" in markup


def test_the_overview_names_the_slow_channel_against_the_latency_rule():
    data = shared()
    now = time.time()
    for i in range(10):
        for channel, ms in (("fast-table", 4.0), ("slow-table", 900.0 + i)):
            data.store.ingest(
                Event(now - 5 + i * 0.1, channel, "postgres_changes", "UPDATE", latency_ms=ms)
            )
    overview = Overview(data=data, latency_max_ms=500.0)
    overview.refresh_slow(data.latest())
    rows = re.findall(
        r'<tr data-testid="channel-latency-row">(.*?)</tr>', overview.by_channel.object
    )
    assert [re.search(r'class="ch">([^<]*)<', r).group(1) for r in rows] == [
        "slow-table",
        "fast-table",
    ]
    assert "#dc2626" in rows[0] and "#16a34a" in rows[1]  # the slow one breaks the 500 ms rule
    assert "909 ms" in rows[0]


def test_presence_marks_the_members_of_a_channel_that_is_down_as_last_known():
    """While a channel is not subscribed the monitor hears no presence_diff: its roster is what
    the monitor last knew, and the page says so rather than showing it as live."""
    from dashboards.presence import Presence
    from feeds.events import CHANNEL_ERROR, SUBSCRIBED

    store = Store()
    data = SharedSnapshots(store=store, alerts=AlertsConfig(), channels=["lobby", "room"])
    now = time.time()
    store.record_status(StatusChange(now - 5, "connected"))
    meta = {"phx_ref": "r1", "name": "x"}
    for channel in ("lobby", "room"):
        store.record_subscription(SubscriptionChange(now - 5, channel, SUBSCRIBED))
        store.ingest(
            Event(now - 4, channel, "presence", "presence_state", payload={"u1": {"metas": [meta]}})
        )
    page = Presence(data=data)
    page.refresh_slow(data.since(now))
    assert "presence-stale" not in page.summary.object
    store.record_subscription(SubscriptionChange(now - 1, "room", CHANNEL_ERROR))
    page.refresh_slow(data.since(now + 1))
    summary = page.summary.object
    assert summary.count('data-testid="presence-stale"') == 1
    assert "<b>room</b> 1 <span" in summary and "the channel is CHANNEL_ERROR" in summary
    assert "<b>lobby</b> 1 ·" in summary  # the subscribed channel is live, unmarked
