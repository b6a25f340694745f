"""The Incidents page in a real browser, for the classes `test_incidents_page` leaves out: each
incident shown with its class and channel (or "socket") on `/app?page=incidents` within 5 s of
its cause. The sandbox is driven into each failure as `tests/integration/test_incidents.py` does
it headless; the failures are sequenced in two dashboard runs, because each run can end in only
one refused upgrade (the monitor waits 10 s before it connects again after a 429) and a garbage
user token takes every watched channel down with it:

* the socket: the watch's user token is garbage (auth.invalid on its channel at load), it sends
  nothing (no probe: the server closes the idle socket, server.idle_close), the sandbox is killed
  (network) and comes back on the same port, where a raw client takes the only user slot before
  the monitor is back (quota.connections on the socket; should the monitor win that race, the
  idle timeout closes its socket within 1 s and the client takes the slot then);
* the limits: a fourth watched channel over `--max-channels 4` (quota.channels at load), two
  clients tracking presence over the tenant's rate then a crash of the watched presence channel,
  whose rejoin's state sync is refused (quota.presence), a client's burst of broadcasts on a
  watched channel (quota.messages), then a join flood and a crash of another watched channel,
  whose rejoin is refused (quota.joins, the last: the monitor is then refused for 10 s).

Refusals at load are timed from the dashboard's first answer, as in `test_incidents_page` (the
monitor connects while the server starts); the others from the test's own action. The quota
plans' rejoins wait 30 s: nothing here waits for a recovery. No class is left out."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from dashboard_process import DashboardServer, free_port
from incident_table import rows, wait_for
from wire import Wire

pytestmark = pytest.mark.browser

WITHIN_S = 5.0
TICK = ("--rate-tick-ms", "500")  # the server's rate counters tick 10x faster than Supabase's
TICK_S = 0.6  # a tick and a little: the counters have counted what was sent

# the socket run
BAD_TOKEN = "browser-lim-bad-token"
SLOT = "browser-lim-slot"  # the raw client's channel, which makes it the project's one user
SOCKET_FLAGS = ("--idle-timeout-ms", "1000", "--max-concurrent-users", "1")

# the limits run
PRESENCE = "browser-lim-presence"
MESSAGES = "browser-lim-messages"
JOINS = "browser-lim-joins"
FOURTH = "browser-lim-fourth"  # the probe and three watched channels fill --max-channels 4
LIMIT_FLAGS = (
    *TICK,
    "--max-channels",
    "4",
    "--max-presence-events-per-second",
    "1",
    "--max-events-per-second",
    "10",
    # The monitor's five joins at load land in one tick of a young counter (10/s), well under;
    # a flood of 200 is 33/s over the longest window (12 ticks, 6 s), well over.
    "--max-joins-per-second",
    "20",
)
FLOOD_JOINS = 200
BURST = 30  # broadcasts, each counted going in and again delivered to the monitor


def watch_config(sb, path: Path, channels: str, token: str = "") -> Path:
    """No broadcast probe: the monitor then sends nothing but its joins and a heartbeat every 15 s
    (idle enough for `--idle-timeout-ms`), and the messages counter counts only the test's."""
    path.write_text(
        f'[connection]\nurl = "{sb.url}"\nkey = "{sb.anon_key}"\naccess_token = "{token}"\n\n'
        "[probes.broadcast]\nenabled = false\n\n" + channels
    )
    return path


def not_yet(page, *expected: tuple[str, str]) -> None:
    """None of these rows before their cause: the row that comes is that cause's."""
    shown = rows(page)
    assert not [key for key in expected if key in shown], shown


def shown_within(page, expected: set[tuple[str, str]], since: float) -> float:
    """Wait for rows of these (class, channel); how long after `since` they were all shown."""
    deadline = since + WITHIN_S
    while not expected <= (shown := rows(page)).keys():
        missing = sorted(expected - shown.keys())
        assert time.monotonic() < deadline, f"not shown within {WITHIN_S} s: {missing}; {shown}"
        time.sleep(0.1)
    return time.monotonic() - since


class Clients:
    """Raw websocket clients (tests/wire.py) on an event loop of their own, in a thread:
    Playwright's sync API holds the main thread's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.wires: list[Wire] = []
        self.tasks: list[asyncio.Task] = []

    def run(self, coro, timeout: float = 15.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def open(self, sb) -> Wire:
        wire = await Wire.open(sb.url, sb.anon_key)
        self.wires.append(wire)
        return wire

    async def _close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for wire in self.wires:
            await wire.close()

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def clients():
    c = Clients()
    yield c
    c.close()


def joined(reply) -> bool:
    return reply["payload"]["status"] == "ok"


async def take_the_only_slot(c: Clients, sb) -> None:
    """Connect and join until this client is the project's one user (if the monitor got back
    first, the idle timeout closes its socket within 1 s and frees the slot), then keep the
    socket busy so that it stays the one."""
    url = sb.ws_url + f"/websocket?apikey={sb.anon_key}&vsn=1.0.0"
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, "never got the project's only user slot"
        session = aiohttp.ClientSession()
        try:
            wire = Wire(session, await session.ws_connect(url), 1)
        except aiohttp.ClientError:  # 429 Too many connected users: the monitor holds it
            await session.close()
            await asyncio.sleep(0.02)
            continue
        _, reply = await wire.join(SLOT)
        if joined(reply):
            break
        await wire.close()
    c.wires.append(wire)

    async def heartbeat() -> None:
        while True:
            await wire.send("phoenix", "heartbeat", {})
            await asyncio.sleep(0.3)

    c.tasks.append(asyncio.create_task(heartbeat()))


async def crowd_and_burst(c: Clients, sb) -> Wire:
    """Two clients join the presence channel and track (some ten presence messages in one tick,
    with the syncs and the diffs); a third joins the messages channel and sends a burst. Returns
    the sender."""
    for key, n in (("a", 1), ("b", 2)):
        wire = await c.open(sb)
        ref, reply = await wire.join(PRESENCE, {"presence": {"key": key, "enabled": True}})
        assert joined(reply), reply
        track = {"event": "track", "payload": {"n": n}}
        await wire.send(f"realtime:{PRESENCE}", "presence", track, None, ref)
    sender = await c.open(sb)
    _, reply = await sender.join(MESSAGES)
    assert joined(reply), reply
    for i in range(BURST):
        await send(sender, i)
    return sender


async def send(wire: Wire, n: int) -> None:
    message = {"type": "broadcast", "event": "burst", "payload": {"n": n}}
    await wire.send(f"realtime:{MESSAGES}", "broadcast", message)


async def flood_joins(c: Clients, sb) -> None:
    """FLOOD_JOINS joins of one topic in a row (each ends the one before, so the channel limit
    does not refuse them), answered before the test goes on."""
    wire = await c.open(sb)
    for _ in range(FLOOD_JOINS):
        ref = wire.next_ref()
        await wire.send("realtime:browser-lim-flood", "phx_join", {"config": {}}, ref, ref)
    try:
        for _ in range(FLOOD_JOINS):
            await wire.recv_event("phx_reply")
    except AssertionError:  # a tick came first: a join refused over the rate closed the socket
        pass


def test_socket_incidents_auth_invalid_idle_close_network_and_connections(
    fresh_sandbox, open_page, clients, tmp_path
):
    port, data = free_port(), tmp_path / "socket-data"
    sb = fresh_sandbox(*SOCKET_FLAGS, port=port, data_dir=data)
    channels = f'[[channels]]\ntopic = "{BAD_TOKEN}"\n'
    config = watch_config(sb, tmp_path / "watch.toml", channels, token="not-a-jwt")
    server = DashboardServer(config, tmp_path / "panel.log")
    started = time.monotonic()  # ingest (--setup) connected before the server answered
    try:
        p = open_page(server.base + "/app?page=incidents")
        page = p.page
        # the channel's join is refused for its token; the socket (the probe joined with the
        # project key) is closed by the server 1 s after the monitor last sent anything
        at_load = {("auth.invalid", BAD_TOKEN), ("server.idle_close", "socket")}
        load_s = shown_within(page, at_load, started)
        # the server dies without a word
        not_yet(page, ("network", "socket"), ("quota.connections", "socket"))
        sb.stop(signal.SIGKILL)
        killed = time.monotonic()
        network_s = shown_within(page, {("network", "socket")}, killed)
        # it comes back on the same port, and another client takes the project's only user slot
        # before the monitor's next try, which is refused
        sb = fresh_sandbox(*SOCKET_FLAGS, port=port, data_dir=data)
        not_yet(page, ("quota.connections", "socket"))
        clients.run(take_the_only_slot(clients, sb))
        taken = time.monotonic()
        full_s = shown_within(page, {("quota.connections", "socket")}, taken)
        shown, errors = rows(page), list(p.errors)  # before the server stops under the page
    finally:
        server.stop()
    assert shown[("auth.invalid", BAD_TOKEN)] == "open"  # not rejoined: only the config fixes it
    assert shown[("quota.connections", "socket")] == "open"
    assert errors == []
    print(f"shown after: load {load_s:.1f} s, network {network_s:.1f} s, full {full_s:.1f} s")


def test_limit_incidents_channels_presence_messages_and_joins(
    fresh_sandbox, open_page, clients, tmp_path
):
    sb = fresh_sandbox(*LIMIT_FLAGS)
    channels = "".join(
        f'[[channels]]\ntopic = "{t}"\n'
        + ('presence = true\npresence_key = "monitor"\n' if t == PRESENCE else "")
        + "\n"
        for t in (PRESENCE, MESSAGES, JOINS, FOURTH)
    )
    server = DashboardServer(watch_config(sb, tmp_path / "watch.toml", channels), tmp_path / "log")
    started = time.monotonic()
    try:
        p = open_page(server.base + "/app?page=incidents")
        page = p.page
        # the probe joins first: the fourth watched channel is the one over the limit
        load_s = shown_within(page, {("quota.channels", FOURTH)}, started)
        for topic in (PRESENCE, MESSAGES, JOINS):
            chip = page.locator(f"[data-testid=channel-chip][data-channel={topic}]")
            wait_for(lambda c=chip: c.get_attribute("data-state") == "SUBSCRIBED", 5, topic)
        # presence and messages over the tenant's rates in the same tick
        not_yet(page, ("quota.presence", PRESENCE), ("quota.messages", MESSAGES))
        burst = time.monotonic()
        sender = clients.run(crowd_and_burst(clients, sb))
        time.sleep(TICK_S)
        sb.fault("phx_error", {"topic": PRESENCE})  # its rejoin, 1 s on, syncs presence
        crashed = time.monotonic()
        clients.run(send(sender, BURST))  # delivered over the limit: the channel is shut
        messages_s = shown_within(page, {("quota.messages", MESSAGES)}, burst)
        presence_s = shown_within(page, {("quota.presence", PRESENCE)}, crashed)
        # then the joins: the presence rejoin above had its turn before the join rate tripped
        not_yet(page, ("quota.joins", JOINS))
        clients.run(flood_joins(clients, sb))
        time.sleep(TICK_S)
        sb.fault("phx_error", {"topic": JOINS})  # its rejoin, 1 s on, is over the join rate
        crashed = time.monotonic()
        joins_s = shown_within(page, {("quota.joins", JOINS)}, crashed)
        shown, errors = rows(page), list(p.errors)
    finally:
        server.stop()
    # the refused rejoins wait 30 s; the fourth channel is not rejoined at all
    for key in (
        ("quota.channels", FOURTH),
        ("quota.presence", PRESENCE),
        ("quota.messages", MESSAGES),
        ("quota.joins", JOINS),
    ):
        assert shown[key] == "open", (key, shown)
    assert errors == []
    print(
        f"shown after: load {load_s:.1f} s, messages {messages_s:.1f} s, presence "
        f"{presence_s:.1f} s, joins {joins_s:.1f} s"
    )
