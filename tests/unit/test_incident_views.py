"""Incidents where people look, without a browser: the Incidents page's table (rows, filters,
expansion, incremental updates, the empty state, the download), the status badge and the channel
chips naming the class, and the wall's incident line. A real `Store` is fed real `Problem`s and
status and subscription changes, as the Supervisor feeds it."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from dashboards.incidents import ALL, IncidentsView
from dashboards.overview import Overview, status_markup
from dashboards.wall import channels_markup, head_markup, incident_markup
from feeds import problems as pb
from feeds.events import Event, StatusChange, SubscriptionChange
from feeds.problems import Problem
from metrics.settings import AlertsConfig
from metrics.shared import SharedSnapshots
from metrics.snapshot import Snapshot
from metrics.store import Store

ALERT = "#dc2626"
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
DENIED = "Unauthorized: You do not have permissions to read from this Channel topic: private-room"
EXPIRED = "Token has expired 3 seconds ago"
BAD_FILTER = 'Unable to subscribe to changes with given parameters: column "nosuch" does not exist'


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def watching(*channels: str, clock: Clock | None = None, **store: object) -> SharedSnapshots:
    """A connected socket with every channel subscribed at T0."""
    s = Store(clock=clock or Clock(), **store)
    s.record_status(StatusChange(T0, "connected"))
    for ch in channels:
        s.record_subscription(SubscriptionChange(T0, ch, "SUBSCRIBED"))
    return SharedSnapshots(store=s, alerts=AlertsConfig(), channels=list(channels))


def problem(at: float, channel: str, cls: str, message: str, action: str = "rejoin in 1 s"):
    return Problem(at, channel, cls, message, action, {"role": "anon"})


def refused(data: SharedSnapshots, at: float, channel: str, cls: str, message: str) -> None:
    """What the feed records for a refused or closed channel: the problem, then the state."""
    data.store.record_problem(problem(at, channel, cls, message))
    data.store.record_subscription(SubscriptionChange(at, channel, "CHANNEL_ERROR", message))


def shown(view: IncidentsView, *columns: str) -> list[tuple]:
    """The rows as the table shows them (filtered and sorted), as tuples of `columns`."""
    df = view.table.current_view
    return list(zip(*(df[c].tolist() for c in columns), strict=True))


def snap_at(data: SharedSnapshots, t: float) -> Snapshot:
    return data.store.snapshot(now=t)


# --- the Incidents page -------------------------------------------------------------------------


def test_the_page_lists_incidents_open_first_with_the_servers_words_and_the_monitors_action():
    clock = Clock(T0 + 60)
    data = watching("private-room", "rows", "crashy", clock=clock)
    view = IncidentsView(data=data)
    refused(data, T0 + 1, "private-room", pb.POLICY_DENIED, DENIED)
    data.store.record_problem(
        problem(
            T0 + 2,
            "rows",
            pb.SUBSCRIPTION_INVALID,
            BAD_FILTER,
            "stopped rejoining this channel until the config changes",
        )
    )
    refused(data, T0 + 3, "crashy", pb.SERVER_CRASH, "phx_error")
    data.store.record_subscription(SubscriptionChange(T0 + 4.5, "crashy", "SUBSCRIBED"))
    view.refresh_fast(snap_at(data, T0 + 5))
    assert shown(view, "state", "class", "channel", "count") == [
        ("open", pb.SUBSCRIPTION_INVALID, "rows", 1),
        ("open", pb.POLICY_DENIED, "private-room", 1),
        ("closed", pb.SERVER_CRASH, "crashy", 1),
    ]
    row = view.table.current_view.iloc[1]
    assert row["message"] == DENIED and row["action"] == "rejoin in 1 s"
    assert row["opened"] == "08:00:01" and row["last"] == "08:00:01" and row["lasted"] == ""
    crash = view.table.current_view.iloc[2]
    assert crash["lasted"] == "1.5 s" and crash["closed"] == "08:00:04"
    assert view.table.visible
    note = view.note.object
    assert "2 open" in note and "3 incidents" in note
    assert view.cls.options == [ALL, pb.POLICY_DENIED, pb.SERVER_CRASH, pb.SUBSCRIPTION_INVALID]
    assert view.channel.options == [ALL, "crashy", "private-room", "rows"]


def test_the_filters_narrow_the_rows_by_state_class_and_channel():
    data = watching("a", "b")
    view = IncidentsView(data=data)
    refused(data, T0 + 1, "a", pb.AUTH_EXPIRED, EXPIRED)
    refused(data, T0 + 2, "b", pb.AUTH_EXPIRED, EXPIRED)
    refused(data, T0 + 3, "b", pb.SERVER_CRASH, "phx_error")
    data.store.record_subscription(SubscriptionChange(T0 + 4, "b", "SUBSCRIBED"))  # closes both
    view.refresh_fast(snap_at(data, T0 + 5))
    assert len(view.table.current_view) == 3
    view.state.value = "open"
    assert shown(view, "class", "channel") == [(pb.AUTH_EXPIRED, "a")]
    assert "1 match the filters" in view.note.object
    view.state.value = "closed"
    assert sorted(shown(view, "class", "channel")) == [
        (pb.AUTH_EXPIRED, "b"),
        (pb.SERVER_CRASH, "b"),
    ]
    view.cls.value = pb.SERVER_CRASH
    assert shown(view, "class", "channel") == [(pb.SERVER_CRASH, "b")]
    view.state.value, view.cls.value, view.channel.value = ALL, pb.AUTH_EXPIRED, "a"
    assert shown(view, "state", "class", "channel") == [("open", pb.AUTH_EXPIRED, "a")]
    view.channel.value = ALL
    assert len(view.table.current_view) == 2


def test_a_row_opens_to_the_explanation_and_the_fix():
    data = watching("private-room")
    view = IncidentsView(data=data)
    refused(data, T0 + 1, "private-room", pb.POLICY_DENIED, DENIED)
    view.refresh_fast(snap_at(data, T0 + 2))
    inc = snap_at(data, T0 + 2).incidents[0]
    markup = view.table.row_content(view.table.value.iloc[0]).object
    assert 'data-testid="incident-detail"' in markup
    assert "What happened" in markup and "What to do" in markup
    assert "&#x27;anon&#x27; to read topic &#x27;private-room&#x27;" in markup  # escaped
    assert inc.fix.split(" for ")[0] in markup  # "Add or fix a select policy on realtime.messages"
    # Tabulator asks for the row's content when it is expanded in the browser
    view.table.expanded = [0]
    children = view.table._get_children()[0]
    assert "incident-detail" in next(iter(children.values())).object


def test_updates_stream_new_incidents_patch_changed_ones_and_send_nothing_otherwise():
    data = watching("a", "b")
    view = IncidentsView(data=data)
    calls: list[str] = []
    table = view.table
    for name in ("stream", "patch"):
        original = getattr(table, name)

        def spy(*args, _name=name, _original=original, **kw):
            calls.append(_name)
            return _original(*args, **kw)

        setattr(table, name, spy)
    refused(data, T0 + 1, "a", pb.AUTH_EXPIRED, EXPIRED)
    view.refresh_fast(snap_at(data, T0 + 2))
    assert calls == ["stream"]
    first = table.value.index.tolist()
    # the same again: nothing to send
    view.refresh_fast(snap_at(data, T0 + 3))
    view.refresh_slow(snap_at(data, T0 + 4))
    assert calls == ["stream"]
    # a repeat: the same row, patched (count, words, last seen)
    data.store.record_problem(problem(T0 + 5, "a", pb.AUTH_EXPIRED, "Token has expired again"))
    view.refresh_fast(snap_at(data, T0 + 6))
    assert calls == ["stream", "patch"]
    assert table.value.index.tolist() == first
    assert shown(view, "count", "message", "last") == [(2, "Token has expired again", "08:00:05")]
    # another channel's: streamed, the first row left as it was
    refused(data, T0 + 7, "b", pb.SERVER_CRASH, "phx_error")
    view.refresh_fast(snap_at(data, T0 + 8))
    assert calls == ["stream", "patch", "stream"]
    assert table.value.index.tolist()[:1] == first
    # a recovery: patched to closed, with how long it lasted
    data.store.record_subscription(SubscriptionChange(T0 + 9, "b", "SUBSCRIBED"))
    view.refresh_fast(snap_at(data, T0 + 10))
    assert calls[-1] == "patch"
    assert shown(view, "state", "channel", "lasted") == [
        ("open", "a", ""),
        ("closed", "b", "2.0 s"),
    ]


def test_a_rejected_binding_that_works_again_closes_on_the_slow_path():
    """ "Subscribed to PostgreSQL" arrives as an event, which does not bump the pulse."""
    data = watching("rows")
    view = IncidentsView(data=data)
    data.store.record_problem(problem(T0 + 1, "rows", pb.SUBSCRIPTION_INVALID, BAD_FILTER))
    view.refresh_fast(snap_at(data, T0 + 2))
    assert shown(view, "state") == [("open",)]
    pulse = data.pulse()
    data.store.ingest(
        Event(
            T0 + 3,
            "rows",
            "system",
            "ok",
            payload={"extension": "postgres_changes", "message": "Subscribed to PostgreSQL"},
        )
    )
    assert data.pulse().connection_changes == pulse.connection_changes
    view.refresh_slow(snap_at(data, T0 + 4))
    assert shown(view, "state") == [("closed",)]


def test_the_table_holds_no_more_than_the_store_keeps():
    data = watching("a", log_size=3)  # the store keeps the latest 3 closed incidents
    view = IncidentsView(data=data)
    for i in range(6):
        t = T0 + 1000 * i  # far apart, so none is a flap of the one before
        refused(data, t, "a", pb.SERVER_CRASH if i % 2 else pb.AUTH_EXPIRED, f"words {i}")
        data.store.record_subscription(SubscriptionChange(t + 1, "a", "SUBSCRIBED"))
        view.refresh_fast(snap_at(data, t + 2))
    snap = snap_at(data, T0 + 6000)
    assert snap.incidents_total == 6 and len(snap.incidents) == 3
    assert sorted(view.table.value["id"].tolist()) == sorted(i.id for i in snap.incidents)
    assert len(view.known) == 3
    assert "of 6 since the start" in view.note.object


def test_no_incidents_is_a_friendly_line_not_a_blank_table():
    data = watching("a")
    view = IncidentsView(data=data)
    view.refresh_fast(snap_at(data, T0 + 5))
    assert not view.table.visible
    assert "No incidents since 2027-01-15 08:00:00 UTC" in view.note.object
    refused(data, T0 + 6, "a", pb.AUTH_EXPIRED, EXPIRED)
    view.refresh_fast(snap_at(data, T0 + 7))
    assert view.table.visible and "incidents-empty" not in view.note.object


def test_the_download_has_the_filtered_rows_with_times_explanation_and_fix():
    data = watching("a", "b")
    view = IncidentsView(data=data)
    refused(data, T0 + 1, "a", pb.AUTH_EXPIRED, EXPIRED)
    refused(data, T0 + 2, "b", pb.POLICY_DENIED, DENIED)
    view.refresh_fast(snap_at(data, T0 + 3))
    view.cls.value = pb.POLICY_DENIED
    lines = view._csv().getvalue().decode().splitlines()
    assert lines[0].startswith("id,state,class,channel,opened_at,last_at,closed_at,count,message")
    assert "explanation,fix" in lines[0]
    assert len(lines) == 2 and "policy.denied,b,2027-01-15T08:00:02+00:00" in lines[1]


async def test_a_problem_reaches_a_live_page_within_a_few_ticks():
    data = watching("a")
    view = IncidentsView(data=data, update_ms=50, chart_ms=1000)
    view.__panel__()
    try:
        await asyncio.sleep(0.1)
        data.store.record_problem(problem(time.time(), "a", pb.AUTH_EXPIRED, EXPIRED))
        deadline = time.monotonic() + 0.5  # the fast path, not the next second
        while len(view.table.value) < 1:
            assert time.monotonic() < deadline, "the incident did not reach the page"
            await asyncio.sleep(0.02)
        assert 'data-class="auth.expired"' in view.chips.object
    finally:
        view.stop()


# --- the status badge and the channel chips ----------------------------------------------------


def badge_text(markup: str) -> str:
    inner = re.search(r'data-testid="status-badge"[^>]*>(.*?)</span></span>', markup).group(1)
    return re.sub(r"<[^>]+>", "", inner).replace("&#x27;", "'")


def badge_color(markup: str) -> str:
    return re.search(r'class="rm-badge" style="--st:([^"]+)"', markup).group(1)


def chips(markup: str) -> dict[str, tuple[str, str, str | None]]:
    """channel -> (text, colour, title) per chip."""
    out = {}
    for m in re.finditer(
        r'<span class="rm-chip" style="--st:([^"]+)"([^>]*)>([^<]*)</span>', markup
    ):
        title = re.search(r'title="([^"]*)"', m.group(2))
        channel = re.search(r'data-channel="([^"]*)"', m.group(2)).group(1)
        out[channel] = (m.group(3), m.group(1), title.group(1) if title else None)
    return out


def test_a_healthy_socket_and_channels_keep_the_green_badge_and_chips():
    data = watching("a", "b")
    badge, chip_markup = status_markup(snap_at(data, T0 + 5), "sandbox")
    assert badge_text(badge) == "CONNECTED" and badge_color(badge) == "#16a34a"
    assert 'data-health="ok"' in badge
    assert chips(chip_markup) == {
        "a": ("a · SUBSCRIBED", "#16a34a", None),
        "b": ("b · SUBSCRIBED", "#16a34a", None),
    }


def test_channels_down_turn_the_badge_red_and_name_the_class():
    data = watching("session:1", "session:2", "session:3")
    for i, ch in enumerate(("session:1", "session:2", "session:3")):
        refused(data, T0 + 1 + i, ch, pb.AUTH_EXPIRED, EXPIRED)
    badge, chip_markup = status_markup(snap_at(data, T0 + 5), "sandbox")
    assert badge_text(badge) == "CONNECTED · 3 of 3 channels down: auth.expired"
    assert badge_color(badge) == ALERT and 'data-health="alert"' in badge
    assert chips(chip_markup)["session:2"] == ("session:2 · auth.expired", ALERT, EXPIRED)


def test_an_open_incident_on_a_subscribed_channel_is_named_too():
    data = watching("a", "rows", "private-room")
    data.store.record_problem(problem(T0 + 1, "rows", pb.SUBSCRIPTION_INVALID, BAD_FILTER))
    badge, chip_markup = status_markup(snap_at(data, T0 + 2), "sandbox")
    assert badge_text(badge) == "CONNECTED · 1 open incident: subscription.invalid"
    assert badge_color(badge) == ALERT
    assert chips(chip_markup)["rows"][:2] == ("rows · subscription.invalid", ALERT)
    assert chips(chip_markup)["a"] == ("a · SUBSCRIBED", "#16a34a", None)
    refused(data, T0 + 3, "private-room", pb.POLICY_DENIED, DENIED)
    badge, _ = status_markup(snap_at(data, T0 + 4), "sandbox")
    assert badge_text(badge) == (
        "CONNECTED · 1 of 3 channels down: policy.denied"
        " · 1 more open incident: subscription.invalid"
    )


def test_a_channel_still_joining_within_the_grace_is_not_down():
    data = watching("a")
    data.store.record_subscription(SubscriptionChange(T0 + 1, "b", "JOINING"))
    badge, _ = status_markup(snap_at(data, T0 + 3), "sandbox")
    assert badge_text(badge) == "CONNECTED" and badge_color(badge) == "#16a34a"
    badge, _ = status_markup(snap_at(data, T0 + 20), "sandbox")  # past the 10 s grace
    assert badge_text(badge) == "CONNECTED · 1 of 2 channels down"


def test_a_socket_that_is_down_keeps_its_colour_and_says_the_class():
    data = watching("a")
    data.store.record_problem(problem(T0 + 1, "", pb.NETWORK, "connection lost (code 1006)"))
    data.store.record_status(StatusChange(T0 + 1, "reconnecting", "connection lost"))
    badge, _ = status_markup(snap_at(data, T0 + 2), "sandbox")
    assert badge_text(badge) == "RECONNECTING · network"
    assert badge_color(badge) == "#d97706" and 'data-health="ok"' in badge
    data.store.record_status(StatusChange(T0 + 3, "connected"))  # closes the socket's incident
    badge, _ = status_markup(snap_at(data, T0 + 4), "sandbox")
    assert badge_text(badge) == "CONNECTED"


def test_the_overview_shows_the_badge_and_chips_with_the_class():
    data = watching("a", "b")
    refused(data, time.time(), "a", pb.POLICY_DENIED, DENIED)
    overview = Overview(data=data)
    overview.refresh_fast(data.latest())
    assert "1 of 2 channels down: policy.denied" in overview.status.object
    assert "a · policy.denied" in overview.chips.object
    assert f'title="{DENIED}"' in overview.chips.object


# --- the wall ----------------------------------------------------------------------------------


def test_the_wall_shows_the_latest_open_incident_in_large_type():
    data = watching("room", "session:1")
    snap = snap_at(data, T0 + 5)
    assert incident_markup(snap) == ""
    assert "wall-incident" not in head_markup(snap, {}, "T", 10.0)
    refused(data, T0 + 10, "room", pb.POLICY_DENIED, DENIED)
    refused(data, T0 + 20, "session:1", pb.AUTH_EXPIRED, EXPIRED)
    snap = snap_at(data, T0 + 200)
    line = incident_markup(snap)
    text = re.sub(r"<[^>]+>", "", line)
    assert text.startswith("auth.expired on session:1 for 3m 00s · +1 more open")
    assert "What to do: Configure [auth] refresh" in text
    head = head_markup(snap, {}, "T", 10.0)
    assert 'data-testid="wall-incident"' in head
    assert re.search(rf'style="--st:{ALERT}"\s+data-testid="wall-status">CONNECTED<', head)
    wall_chips = channels_markup(snap)
    assert "session:1 · auth.expired" in wall_chips and f'title="{EXPIRED}"' in wall_chips
    # recovered: the line goes, the status is green again
    for ch in ("room", "session:1"):
        data.store.record_subscription(SubscriptionChange(T0 + 210, ch, "SUBSCRIBED"))
    snap = snap_at(data, T0 + 220)
    assert incident_markup(snap) == ""
    assert re.search(
        r'style="--st:#16a34a"\s+data-testid="wall-status"', head_markup(snap, {}, "T", 10.0)
    )


@pytest.mark.parametrize("count", [1, 4])
def test_the_wall_counts_repeats(count):
    data = watching("a")
    for i in range(count):
        data.store.record_problem(problem(T0 + 1 + i, "a", pb.QUOTA_MESSAGES, "Too many messages"))
    text = re.sub(r"<[^>]+>", "", incident_markup(snap_at(data, T0 + 30)))
    assert ("×4" in text) == (count == 4)


def test_every_page_shows_the_channels_down_with_their_class():
    """Issue 12: an expired token's channels read as down on every page, not only the
    Overview: Live slots, Presence and the Inspector carry the same badge and chips."""
    from types import SimpleNamespace

    from dashboards.app import view

    clock = Clock(T0 + 40)
    data = watching("session:a", "session:b", clock=clock)
    for ch in ("session:a", "session:b"):
        refused(data, T0 + 5, ch, pb.AUTH_EXPIRED, EXPIRED)
    settings = SimpleNamespace(update_ms=100, chart_ms=1000, title="t", stale_after_s=10)
    for page in ("slots", "presence", "inspector"):
        page_view = view(page, data, settings)
        badge, chips = (pane.object for pane in page_view._strip)
        assert "2 of 2 channels down: auth.expired" in badge, (page, badge)
        assert chips.count("· auth.expired<") == 2, (page, chips)
    overview = view("overview", data, settings)  # shows them itself, once
    assert overview._strip is None
