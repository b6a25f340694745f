"""Network and server faults between a real monitor and a real sandbox (issue 14, item 2).

A monitor (`feeds.monitor.Monitor` feeding a `metrics.Store`, in this process) watches one
broadcast channel; a publisher sends a numbered broadcast to that channel 20 times a second
through the sandbox's REST endpoint, straight to the sandbox. The monitor's socket goes through
our TCP proxy (tests/tcp_proxy.py) for the network faults, or straight to the sandbox for the
server's own (kill -9, SIGSTOP, the drain hook). For each fault the test asserts:

* what the monitor shows while it lasts, read from the store's snapshot as the pages read it: the
  status and its reason on the timeline, the incident and its class;
* the recovery time: from the moment the fault clears to the monitor `connected` with its
  channel SUBSCRIBED again, under 2 s;
* lost events: every broadcast the sandbox fanned out to the monitor's channel after the
  recovery arrived, exactly once. The sandbox writes a REST broadcast to every joined subscriber
  before it answers 202 (`sandbox/endpoints.py`), and it joins a channel before it replies ok
  (`sandbox/connection.py`), so every broadcast whose POST started after the monitor saw its
  SUBSCRIBED and was answered 202 was delivered to the monitor's subscription: the set of those
  numbers must be a subset of the numbers the monitor received, with no number twice.

"Clears" means: `clear()` for a path fault (stall, latency, bandwidth); the restarted sandbox's
READY line after kill -9; SIGCONT after SIGSTOP; the hook's answer for a drain; the injection
itself for a reset. A half-open connection never heals (its stream has a hole), so the fault is
over for the monitor when it gives the connection up: its recovery is timed from there, and the
detection (injection to giving up) is timed and bounded on its own.

Latency and a bandwidth limit must not cost a reconnect at all: there the count runs from the
first subscribe, over the whole fault. A stop on a half-open socket must stop the feed too.

Each test prints one line with its figures (detection, recovery, lost of delivered) to the
terminal and records them as junit properties. What they found in feeds: the Supervisor closed a
silent socket with a closing handshake nobody answered, which kept the status `connected` and
held the reconnect for 2 s after the probe's verdict (`DETECT_MAX_S` and the half-open recovery
fail on it); and a stop that gave up on that handshake left the read loop running.

The monitor is configured to notice a dead socket within about a second, as an operator would
set it for a wall display: probes every 0.2 s, a probe lost after 0.8 s, two lost in a row are
a dead socket; connect and join time out after 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from sandbox_process import SandboxProcess, start_sandbox, until
from tcp_proxy import TcpProxy

from feeds import problems as pb
from feeds.events import (
    CONNECTED,
    ERROR,
    RECONNECTING,
    SUBSCRIBED,
    Event,
    StatusChange,
    SubscriptionChange,
)
from feeds.monitor import Monitor
from feeds.problems import Problem
from feeds.settings import ChannelConfig
from metrics.store import Store
from monitor.config import WatchConfig, store_params

RATE = 20.0  # broadcasts per second
RECOVERY_MAX_S = 2.0
# the probe declares the socket dead after its timeout plus two intervals (two probes lost in a
# row): ~1.2 s; the bound leaves room for a loaded machine
DETECT_MAX_S = 2.5
PROBE_INTERVAL_S, PROBE_TIMEOUT_S, PROBE_LOST = 0.2, 0.8, 2


class Tap:
    """Everything the monitor reported, in order, with the times it reported them."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.ticks: list[tuple[float, int]] = []  # (received_at, n) of the publisher's messages
        self.rtts: list[tuple[float, float]] = []  # (received_at, ms) of probe echoes
        self.status: list[StatusChange] = []
        self.subs: list[SubscriptionChange] = []
        self.problems: list[Problem] = []

    def ingest(self, event: Event) -> None:
        if event.channel == self.topic and event.kind == "broadcast" and event.event == "tick":
            self.ticks.append((event.received_at, int(event.payload["payload"]["n"])))
        elif event.kind == "probe" and event.event == "rtt":
            self.rtts.append((event.received_at, float(event.latency_ms or 0.0)))

    def record_status(self, change: StatusChange) -> None:
        self.status.append(change)

    def record_subscription(self, change: SubscriptionChange) -> None:
        self.subs.append(change)

    def record_problem(self, problem: Problem) -> None:
        self.problems.append(problem)

    def healthy_since(self) -> float | None:
        """When the monitor last became connected with the channel SUBSCRIBED, or None if it is
        not both now."""
        if not self.status or self.status[-1].status != CONNECTED:
            return None
        mine = [s for s in self.subs if s.channel == self.topic]
        if not mine or mine[-1].state != SUBSCRIBED:
            return None
        return max(self.status[-1].at, mine[-1].at)


@dataclass
class Publisher:
    """Numbered broadcasts at a steady rate, straight to the sandbox's REST endpoint. A POST
    that fails or times out (the server is dead or frozen) is logged as not accepted."""

    url: str
    key: str
    topic: str
    pad: int = 0
    log: list[tuple[int, float, bool]] = field(default_factory=list)  # (n, started, accepted)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def accepted_after(self, t: float) -> set[int]:
        return {n for n, started, ok in self.log if ok and started > t}

    async def _run(self) -> None:
        endpoint = f"{self.url}/realtime/v1/api/broadcast/{self.topic}/events/tick"
        headers = {"apikey": self.key}
        timeout = aiohttp.ClientTimeout(total=1.0)
        start = time.monotonic()
        n = 0
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stop.is_set():
                started, ok = time.time(), False
                try:
                    body = {"n": n, "pad": "x" * self.pad}
                    async with http.post(endpoint, json=body, headers=headers) as resp:
                        ok = resp.status == 202
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                self.log.append((n, started, ok))
                n += 1
                await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))


@dataclass
class Figures:
    fault: str
    detected_s: float | None  # injection to the monitor leaving `connected`
    recovery_s: float  # the fault's clearing to connected + SUBSCRIBED
    cleared_by: str  # what "the fault cleared" was, for this fault
    delivered: int  # broadcasts delivered to the subscription after the recovery
    lost: list[int]
    duplicated: int

    def line(self) -> str:
        detected = (
            "never left connected"
            if self.detected_s is None
            else (f"detected in {self.detected_s:.2f} s")
        )
        return (
            f"{self.fault}: {detected}, connected and SUBSCRIBED {self.recovery_s:.2f} s after "
            f"{self.cleared_by}; lost {len(self.lost)} of the {self.delivered} broadcasts "
            f"delivered after that, {self.duplicated} twice"
        )


class Scene:
    """A monitor watching one topic (through a proxy or not) and a publisher feeding it."""

    def __init__(self, sb: SandboxProcess, topic: str, proxy: TcpProxy | None = None, pad=0):
        self.sb, self.topic, self.proxy = sb, topic, proxy
        cfg = WatchConfig(channels=[ChannelConfig(topic=topic)])
        cfg.connection.url = proxy.url if proxy else sb.url
        cfg.connection.key = sb.anon_key
        cfg.connection.timeout_s = 1.0
        probe = cfg.probes.broadcast
        probe.interval_s, probe.timeout_s = PROBE_INTERVAL_S, PROBE_TIMEOUT_S
        probe.reconnect_after_timeouts = PROBE_LOST
        cfg.probes.database.enabled = False
        self.config = cfg
        self.store = Store(**store_params(cfg))
        self.tap = Tap(topic)
        self.monitor = Monitor(cfg, [self.store, self.tap])
        self.publisher = Publisher(sb.url, sb.service_role_key, topic, pad=pad)
        self.subscribed_at = 0.0

    async def __aenter__(self) -> Scene:
        await self.monitor.start()
        await until(lambda: self.tap.healthy_since() is not None, 10, "the first subscribe")
        self.subscribed_at = self.tap.healthy_since() or 0.0
        self.publisher.start()
        await until(lambda: len(self.tap.ticks) >= 5, 5, "the first broadcasts")
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.publisher.stop()
        await self.monitor.stop()

    def snapshot(self, **kw: Any):
        return self.store.snapshot(**kw)

    async def left_connected(self, after: float, timeout: float = DETECT_MAX_S + 2) -> float:
        """When the monitor stopped being `connected` (at or after `after`)."""

        def dropped() -> float | None:
            return next(
                (s.at for s in self.tap.status if s.at >= after and s.status != CONNECTED), None
            )

        await until(lambda: dropped() is not None, timeout, "the monitor to notice the fault")
        return dropped() or 0.0

    async def recovered(self, after: float, timeout: float = 10) -> float:
        """When the monitor was connected with its channel SUBSCRIBED again, after `after`."""

        def back() -> float | None:
            since = self.tap.healthy_since()
            return since if since is not None and since >= after else None

        await until(lambda: back() is not None, timeout, "connected and SUBSCRIBED again")
        return back() or 0.0

    async def account(
        self, fault: str, detected: float | None, recovery: float, cleared_by: str, since: float
    ) -> Figures:
        """Let a second of traffic through, stop the publisher and count: every broadcast
        accepted after `since` must have arrived, once."""
        await asyncio.sleep(1.0)
        await self.publisher.stop()
        expected = self.publisher.accepted_after(since)

        def got() -> list[int]:
            return [n for at, n in self.tap.ticks if at > since]

        with contextlib.suppress(AssertionError):
            await until(lambda: expected <= set(got()), 3, "the last broadcasts")
        received = got()
        attempted = {n for n, _, _ in self.publisher.log}
        assert set(received) <= attempted, "the monitor received broadcasts nobody sent"
        return Figures(
            fault,
            detected,
            recovery,
            cleared_by,
            len(expected),
            sorted(expected - set(received)),
            len(received) - len(set(received)),
        )


def report(figures: Figures, record_property, capsys) -> None:
    for key in ("detected_s", "recovery_s", "delivered", "duplicated"):
        record_property(key, getattr(figures, key))
    record_property("lost", len(figures.lost))
    with capsys.disabled():
        print(f"\n[fault] {figures.line()}")


def assert_figures(f: Figures, min_delivered: int = 10) -> None:
    assert f.delivered >= min_delivered, f"too little traffic after recovery: {f.line()}"
    assert not f.lost and not f.duplicated, f"{f.line()}; lost numbers: {f.lost[:20]}"
    assert 0 <= f.recovery_s < RECOVERY_MAX_S, f.line()
    if f.detected_s is not None:
        assert f.detected_s < DETECT_MAX_S, f.line()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory):
    """One sandbox for the faults that leave it as it was (everything but kill -9): each test
    has its own topic, proxy, monitor and publisher."""
    sb = start_sandbox(tmp_path_factory.mktemp("faults") / "data", changes="stream")
    yield sb
    if sb.proc.poll() is None:
        sb.proc.send_signal(signal.SIGCONT)  # whatever a failed test left behind
    sb.stop()


# --- the proxy itself --------------------------------------------------------------------------


async def test_the_proxy_does_what_it_says():
    """The faults below are only what the proxy makes them: checked against an echo server."""

    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()

    async def round_trip(r, w, data: bytes, timeout: float = 2.0) -> float:
        started = time.monotonic()
        w.write(data)
        await asyncio.wait_for(r.readexactly(len(data)), timeout)
        return time.monotonic() - started

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server, TcpProxy("127.0.0.1", server.sockets[0].getsockname()[1]) as proxy:
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await round_trip(r, w, b"x") < 0.1
        proxy.delay_up = proxy.delay_down = 0.1
        assert await round_trip(r, w, b"x") >= 0.2
        proxy.clear()
        proxy.rate_down = 20_000
        assert await round_trip(r, w, b"x" * 10_000) >= 0.45  # 10 KB at 20 KB/s
        proxy.clear()
        proxy.stall()
        w.write(b"held")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.readexactly(4), 0.3)
        proxy.clear()  # a stall holds bytes, it does not lose them
        assert await asyncio.wait_for(r.readexactly(4), 1) == b"held"
        assert proxy.half_open("down") == 1
        w.write(b"lost")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.read(4), 0.3)
        assert proxy.discarded == 4 and not w.is_closing()  # no FIN, no RST: just silence
        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await round_trip(r2, w2, b"new") < 0.5  # a later connection is healthy
        assert proxy.reset() == 2
        with pytest.raises(ConnectionResetError):  # an RST, not an orderly end of stream
            await asyncio.wait_for(r2.read(1), 1)
        w.close()
        w2.close()


# --- the path: latency, bandwidth -----------------------------------------------------------


async def test_latency_shows_in_the_probe_and_nothing_reconnects(
    shared_sandbox, record_property, capsys
):
    sb = shared_sandbox
    delay = 0.25  # each way: probes come back after ~0.5 s, within their 0.8 s timeout
    async with (
        TcpProxy("127.0.0.1", _port(sb)) as proxy,
        Scene(sb, "fault-latency", proxy) as scene,
    ):
        await asyncio.sleep(0.5)
        began = time.time()
        proxy.delay_up = proxy.delay_down = delay
        await asyncio.sleep(2.5)
        shown = scene.snapshot(window_s=2.0)
        proxy.clear()
        cleared = time.time()
        await until(
            lambda: any(at > cleared and ms < 100 for at, ms in scene.tap.rtts), 3, "fast probes"
        )
        normal_after = next(at for at, ms in scene.tap.rtts if at > cleared and ms < 100) - cleared
        figures = await scene.account(
            "latency 250 ms each way", None, 0.0, "the first subscribe", scene.subscribed_at
        )
        late = [
            at - started
            for n, started, ok in scene.publisher.log
            if ok and began + 0.1 < started < cleared - delay
            for at, m in scene.tap.ticks
            if m == n
        ]
        rtts = [ms for at, ms in scene.tap.rtts if began + 2 * delay + 0.1 < at < cleared]
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    with capsys.disabled():
        print(
            f"[fault] latency: probe p95 during it {shown.latency['probe_rtt'].p95:.0f} ms, "
            f"back under 100 ms {normal_after:.2f} s after clear"
        )
    assert_figures(figures)
    # it shows: every probe round trip and every broadcast during the fault took the delay
    assert rtts and min(rtts) >= 2 * delay * 1000, rtts
    assert late and min(late) >= delay, late
    assert shown.latency["probe_rtt"].p95 >= 2 * delay * 1000
    assert shown.status.status == CONNECTED
    # and nothing else happened: one session, no outage, no incident
    assert snap.reconnects_total == 0 and len(snap.outages) == 0, snap.timeline
    assert not snap.incidents, snap.incidents
    assert normal_after < RECOVERY_MAX_S


async def test_a_bandwidth_limit_slows_a_burst_and_loses_nothing(
    shared_sandbox, record_property, capsys
):
    sb = shared_sandbox
    limit = 32_000  # bytes/s each way; the steady traffic needs ~3 KB/s down
    async with (
        TcpProxy("127.0.0.1", _port(sb)) as proxy,
        Scene(sb, "fault-bandwidth", proxy, pad=40) as scene,
    ):
        await asyncio.sleep(0.5)
        proxy.rate_up = proxy.rate_down = limit
        began, bytes_before = time.monotonic(), proxy.bytes_down
        # a burst of ~16 KB at once: through the limit it takes half a second to arrive
        burst = [
            {"topic": scene.topic, "event": "burst", "payload": {"i": i, "pad": "y" * 200}}
            for i in range(60)
        ]
        burst_sent = time.time()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{sb.url}/realtime/v1/api/broadcast",
                json={"messages": burst},
                headers={"apikey": sb.service_role_key},
            ) as resp,
        ):
            assert resp.status == 202
        burst_bytes = len(str(burst))  # a lower bound of what the frames carry
        await until(lambda: _count(scene.store, scene.topic, "burst") == 60, 5, "the burst")
        burst_took = time.time() - burst_sent
        await asyncio.sleep(2.0)
        down_rate = (proxy.bytes_down - bytes_before) / (time.monotonic() - began)
        proxy.clear()
        figures = await scene.account(
            "bandwidth 32 KB/s", None, 0.0, "the first subscribe", scene.subscribed_at
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    with capsys.disabled():
        print(
            f"[fault] bandwidth: a {burst_bytes} B burst took {burst_took:.2f} s, "
            f"{down_rate:.0f} B/s down over the limit's span"
        )
    assert_figures(figures)
    assert burst_took >= burst_bytes / limit * 0.9, (burst_took, burst_bytes)
    assert down_rate <= limit * 1.05, down_rate
    assert snap.reconnects_total == 0 and not snap.incidents, (snap.timeline, snap.incidents)


# --- the path: stall, reset, half-open -------------------------------------------------------


async def test_a_stalled_path_is_a_silent_socket_and_recovers_when_it_flows(
    shared_sandbox, record_property, capsys
):
    sb = shared_sandbox
    async with (
        TcpProxy("127.0.0.1", _port(sb)) as proxy,
        Scene(sb, "fault-stall", proxy) as scene,
    ):
        injected = time.time()
        proxy.stall()
        dropped = await scene.left_connected(injected)
        shown = scene.snapshot()
        await asyncio.sleep(1.5)  # the outage goes on: the reconnects stall too
        during = scene.snapshot()
        proxy.clear()
        cleared = time.time()
        back = await scene.recovered(cleared)
        figures = await scene.account("stall", dropped - injected, back - cleared, "clear()", back)
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    _assert_shown(shown, "no probe echo for 0.8 s")
    assert during.status.status != CONNECTED
    _assert_incident(snap, pb.NETWORK, "no probe echo")
    assert _outage_reasons(snap)[0].startswith("no probe echo"), snap.outages


async def test_a_reset_is_noticed_at_once_and_recovers(shared_sandbox, record_property, capsys):
    sb = shared_sandbox
    async with (
        TcpProxy("127.0.0.1", _port(sb)) as proxy,
        Scene(sb, "fault-reset", proxy) as scene,
    ):
        await asyncio.sleep(0.5)
        injected = time.time()
        assert proxy.reset() == 1
        dropped = await scene.left_connected(injected)
        shown = scene.snapshot()
        back = await scene.recovered(injected)
        figures = await scene.account(
            "reset (RST)", dropped - injected, back - injected, "the reset", back
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    assert figures.detected_s < 0.5, figures.line()  # an RST needs no probe
    _assert_shown(shown, "connection lost")
    _assert_incident(snap, pb.NETWORK, "connection lost")
    assert len(snap.outages) == 1


@pytest.mark.parametrize("direction", ["down", "up"])
async def test_a_half_open_connection_is_found_by_the_probe_and_replaced(
    shared_sandbox, record_property, capsys, direction
):
    """down: the server's bytes vanish (the monitor hears nothing, the server hears it all);
    up: the monitor's bytes vanish (the server keeps sending, the probe never reaches it). No
    FIN, no RST: only the probe can tell."""
    sb = shared_sandbox
    async with (
        TcpProxy("127.0.0.1", _port(sb)) as proxy,
        Scene(sb, f"fault-half-open-{direction}", proxy) as scene,
    ):
        await asyncio.sleep(0.5)
        injected = time.time()
        assert proxy.half_open(direction) == 1
        dropped = await scene.left_connected(injected)
        shown = scene.snapshot()
        back = await scene.recovered(dropped)
        figures = await scene.account(
            f"half-open ({direction})",
            dropped - injected,
            back - dropped,
            "the monitor gave the connection up",
            back,
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    _assert_shown(shown, "no probe echo for 0.8 s")
    _assert_incident(snap, pb.NETWORK, "no probe echo")
    assert proxy.discarded > 0


async def test_stopping_on_a_half_open_socket_stops_the_feed(shared_sandbox):
    """A stop closes politely, and a half-open socket never answers the close: the stop gives
    up after 2 s, and then the read loop must stop too, or a socket that still delivers keeps
    feeding a stopped monitor."""
    sb = shared_sandbox
    async with TcpProxy("127.0.0.1", _port(sb)) as proxy:
        scene = Scene(sb, "fault-stop-half-open", proxy)
        async with scene:
            assert proxy.half_open("up") == 1  # the server's broadcasts still come down
            stopping = time.monotonic()
            await scene.monitor.stop()
            took = time.monotonic() - stopping
            n = len(scene.tap.ticks)
            await asyncio.sleep(0.5)  # 10 more broadcasts are sent, and come down the socket
            after = len(scene.tap.ticks) - n
    assert took < 3.0, took
    assert after == 0, f"{after} broadcasts reached the sinks after the monitor stopped"


# --- the server: kill -9, SIGSTOP, drain ------------------------------------------------------


async def test_kill_9_and_a_restart_on_the_same_port(
    fresh_sandbox, tmp_path, record_property, capsys
):
    port = free_port()
    sb = fresh_sandbox(port=port, data_dir=tmp_path / "killed")
    async with Scene(sb, "fault-kill") as scene:
        await asyncio.sleep(0.5)
        injected = time.time()
        sb.stop(signal.SIGKILL)
        dropped = await scene.left_connected(injected)
        shown = scene.snapshot()
        # in a thread: the monitor's loop must go on retrying (and backing off) meanwhile
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: fresh_sandbox(port=port, data_dir=tmp_path / "killed")
        )  # returns on its READY line
        ready = time.time()
        back = await scene.recovered(ready)
        figures = await scene.account(
            "kill -9, restart", dropped - injected, back - ready, "the READY line", back
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    _assert_shown(shown, "connection lost")
    _assert_incident(snap, pb.NETWORK, "connection lost")
    assert len(snap.outages) == 1


async def test_sigstop_then_sigcont(shared_sandbox, record_property, capsys):
    sb = shared_sandbox
    async with Scene(sb, "fault-sigstop") as scene:
        await asyncio.sleep(0.5)
        injected = time.time()
        sb.proc.send_signal(signal.SIGSTOP)
        try:
            dropped = await scene.left_connected(injected)
            shown = scene.snapshot()
            await asyncio.sleep(1.0)  # reconnects meanwhile hang in the frozen server's backlog
        finally:
            sb.proc.send_signal(signal.SIGCONT)
        resumed = time.time()
        back = await scene.recovered(resumed)
        figures = await scene.account(
            "SIGSTOP/SIGCONT", dropped - injected, back - resumed, "SIGCONT", back
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    _assert_shown(shown, "no probe echo for 0.8 s")
    _assert_incident(snap, pb.NETWORK, "no probe echo")


@pytest.mark.parametrize(
    ("mode", "words"),
    [("tenant", "Server requested disconnect"), ("deploy", "code 1012")],
    ids=["tenant", "deploy"],
)
async def test_the_servers_drain(shared_sandbox, record_property, capsys, mode, words):
    """tenant: "Server requested disconnect" on every channel, then close 1012; deploy: the
    close without a word. Either is a restart (`server.restart`), not a network fault."""
    sb = shared_sandbox
    async with Scene(sb, f"fault-drain-{mode}") as scene:
        await asyncio.sleep(0.5)
        injected = time.time()
        answer = await asyncio.get_running_loop().run_in_executor(
            None, lambda: sb.fault("disconnect", {"mode": mode})
        )
        assert answer["disconnected"] >= 1
        drained = time.time()
        dropped = await scene.left_connected(injected)
        shown = scene.snapshot()
        back = await scene.recovered(max(dropped, injected))
        figures = await scene.account(
            f"drain ({mode})",
            dropped - injected,
            max(0.0, back - drained),
            "the hook's answer",
            back,
        )
        snap = scene.snapshot()
    report(figures, record_property, capsys)
    assert_figures(figures)
    _assert_shown(shown, "code 1012")  # Service Restart
    _assert_incident(snap, pb.SERVER_RESTART, words)


# --- helpers ------------------------------------------------------------------------------------


def _port(sb: SandboxProcess) -> int:
    return int(sb.url.rsplit(":", 1)[1].split("/")[0])


def _count(store: Store, topic: str, event: str) -> int:
    return store.snapshot().totals["by_event"].get((topic, "broadcast", event), 0)


def _outage_reasons(snap) -> list[str]:
    return [r for r in snap.outages["reason"] if isinstance(r, str)]


def _assert_shown(snap, words: str) -> None:
    """The status a page shows during the fault: not connected, the reason in its words, and
    the timeline's newest row saying the same."""
    assert snap.status.status in (RECONNECTING, ERROR), snap.timeline
    assert words in (snap.status.reason or ""), snap.timeline
    last = snap.timeline.iloc[-1]
    assert last["status"] == snap.status.status and words in last["reason"], snap.timeline


def _assert_incident(snap, cls: str, words: str) -> None:
    """The socket's incident of `cls`, in those words, closed by the recovery."""
    found = [i for i in snap.incidents if i.channel == "" and i.cls == cls]
    seen = [(i.where, i.cls, i.first_message, i.open) for i in snap.incidents]
    assert found, f"no {cls} incident on the socket: {seen}"
    assert any(words in i.first_message or words in i.message for i in found), seen
    assert not any(i.open for i in found), f"the incident stayed open after recovery: {seen}"
