"""Each incident class, driven on a real sandbox and read back from the headless report's JSON.

The sandbox is pushed into the failure (a refused policy, a bad filter, a short-lived token, the
fault hooks, a killed process, an idle socket, low limits); the test then asserts what an operator
would read: the class, the channel, the server's words, what the monitor did, and the recovery.
The report is the real `monitor.report` JSON, polled the way `python -m monitor check` builds it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

from sandbox_process import until
from wire import Wire

from feeds import problems as pb
from feeds.events import CONNECTED, SUBSCRIBED
from feeds.settings import BindingConfig, ChannelConfig
from feeds.supervisor import Supervisor
from metrics.store import Store
from monitor.config import WatchConfig, store_params
from monitor.report import dumps, report

REPORT_WITHIN_S = 5.0


class Watch:
    """A Supervisor feeding a Store, as the monitor composes them, plus the report's JSON."""

    def __init__(self, sb, channels, *, key=None, token="", probe=True, **connection):
        self.config = WatchConfig(channels=channels)
        self.config.connection.access_token = token
        for k, v in connection.items():
            setattr(self.config.connection, k, v)
        self.config.probes.broadcast.interval_s = 0.2
        self.config.probes.broadcast.enabled = probe
        self.store = Store(**store_params(self.config))
        self.sup = Supervisor(
            self.config,
            url=sb.url,
            key=key or sb.anon_key,
            on_event=self.store.ingest,
            on_status=self.store.record_status,
            on_subscription=self.store.record_subscription,
            on_problem=self.store.record_problem,
        )

    def report(self) -> dict:
        body, _ = report(self.store.snapshot(), self.config, "sandbox", 1.0)
        return json.loads(dumps(body))

    def incidents(self, cls: str | None = None, channel: str | None = None) -> list[dict]:
        return [
            i
            for i in self.report()["incidents"]
            if (cls is None or i["class"] == cls) and (channel is None or i["channel"] == channel)
        ]

    async def incident(self, cls: str, channel: str, timeout: float = REPORT_WITHIN_S) -> dict:
        """The incident as the JSON shows it, waiting at most `timeout` s for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.incidents(cls, channel)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [(i["class"], i["channel"], i["message"]) for i in self.incidents()]
                raise AssertionError(f"no {cls} incident on {channel} within {timeout} s: {seen}")
            await asyncio.sleep(0.1)

    def states(self, channel: str) -> list[str]:
        return [s[1] for s in self.store.snapshot().channel_states if s[0] == channel]

    async def __aenter__(self) -> Watch:
        self.sup.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.sup.stop()


def subscribed(w: Watch, channel: str) -> bool:
    return w.states(channel) == [SUBSCRIBED]


def broadcast(sb, topic: str, n: int) -> None:
    """n broadcasts to a public topic through the REST endpoint, as a backend sends them."""
    messages = [{"topic": topic, "event": "bystander", "payload": {"n": i}} for i in range(n)]
    request = urllib.request.Request(
        f"{sb.url}/realtime/v1/api/broadcast",
        data=json.dumps({"messages": messages}).encode(),
        method="POST",
        headers={"apikey": sb.anon_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 202


def delivered(w: Watch, topic: str) -> int:
    return w.store.snapshot().totals["by_event"].get((topic, "broadcast", "bystander"), 0)


async def nothing_lost(w: Watch, sb, topic: str, n: int, before: int = 0) -> None:
    """Send n more to `topic` and see each one arrive: the incident cost the others nothing."""
    broadcast(sb, topic, n)
    await until(lambda: delivered(w, topic) >= before + n, 5, f"{n} broadcasts on {topic}")
    await asyncio.sleep(0.2)
    assert delivered(w, topic) == before + n


# --- refusals at join time ---------------------------------------------------------------------


async def test_a_private_channel_the_role_may_not_read_is_policy_denied(sandbox):
    topic, bystander = "inc-private-room", "inc-bystander-policy"
    started = time.monotonic()
    channels = [ChannelConfig(topic=topic, private=True), ChannelConfig(topic=bystander)]
    async with Watch(sandbox, channels) as w:
        inc = await w.incident(pb.POLICY_DENIED, topic)
        assert time.monotonic() - started < REPORT_WITHIN_S
        await until(lambda: subscribed(w, bystander), 5, "the other channel's join")
        await nothing_lost(w, sandbox, bystander, 20)
        body = w.report()
    assert inc["open"] and inc["count"] == 1
    assert inc["message"] == (
        f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}"
    )
    assert inc["action"] == "rejoin in 30 s"  # not realtime-py's 1 s, each refusal stalls 5 s
    assert "realtime.messages" in inc["explanation"] and "'anon'" in inc["explanation"]
    assert topic in inc["fix"]
    assert not body["ok"]
    assert any(a["name"] == "incidents" and a["level"] == "alert" for a in body["alerts"])


async def test_a_garbage_user_token_is_auth_invalid_and_not_rejoined(sandbox):
    topic = "inc-bad-token"
    async with Watch(sandbox, [ChannelConfig(topic=topic)], token="not-a-jwt") as w:
        inc = await w.incident(pb.AUTH_INVALID, topic)
        await asyncio.sleep(2.5)  # realtime-py would have rejoined twice by now
        again = w.incidents(pb.AUTH_INVALID, topic)[0]
        assert w.sup.status == CONNECTED  # the probe joins with the key: the socket is fine
    assert "MalformedJWT" in inc["message"]
    assert inc["action"].startswith("stopped rejoining")
    assert again["count"] == 1
    assert topic in w.sup.given_up


async def test_a_rejected_filter_is_reported_once_and_the_channel_keeps_its_broadcasts(
    sandbox, sql
):
    sql("create table if not exists public.inc_rows (id int primary key, v text)")
    topic = "inc-bad-filter"
    binding = BindingConfig(table="inc_rows", filter="nosuch=eq.1")
    async with Watch(sandbox, [ChannelConfig(topic=topic, postgres_changes=[binding])]) as w:
        inc = await w.incident(pb.SUBSCRIPTION_INVALID, topic)
        await asyncio.sleep(3.5)  # realtime-py alone rejoins at 1, 2, 5 s... and errors again
        sender = await Wire.open(sandbox.url, sandbox.anon_key)
        try:
            await sender.join(topic)
            await sender.send(
                "realtime:" + topic,
                "broadcast",
                {"type": "broadcast", "event": "ping", "payload": {}},
            )
            await until(
                lambda: w.store.snapshot().totals["by_kind"].get("broadcast", 0) >= 1,
                5,
                "the broadcast on the channel with the rejected binding",
            )
        finally:
            await sender.close()
        later = w.incidents(pb.SUBSCRIPTION_INVALID, topic)[0]
        states = w.states(topic)
    assert later["count"] == 1, later
    assert states == [SUBSCRIBED]  # never errored, never rejoined
    assert "nosuch" in inc["message"]
    assert "where nosuch=eq.1" in inc["explanation"]
    assert inc["action"].startswith("stopped rejoining")


# --- the token ---------------------------------------------------------------------------------


async def test_an_expired_token_without_refresh_is_auth_expired_and_the_channel_is_down(
    sandbox, mint
):
    topic = "inc-expiring"
    token = mint("authenticated", ttl=2, sub="00000000-0000-4000-8000-00000000abcd")
    async with Watch(sandbox, [ChannelConfig(topic=topic)], token=token) as w:
        await until(lambda: subscribed(w, topic), 5, "the join")
        expires = time.monotonic() + 2
        inc = await w.incident(pb.AUTH_EXPIRED, topic, timeout=2 + REPORT_WITHIN_S)
        assert time.monotonic() - expires < REPORT_WITHIN_S
        await asyncio.sleep(2)
        again = w.incidents(pb.AUTH_EXPIRED, topic)[0]
        snap = w.store.snapshot()
        assert w.sup.status == CONNECTED and snap.reconnects_total == 0
        assert [ch for ch, _ in snap.channels_down(longer_than=1)] == [topic]
        body = w.report()
    assert "Token has expired" in inc["message"]
    assert inc["action"].startswith("stopped rejoining")
    assert "[auth] refresh" in inc["fix"]
    assert again["count"] == 1 and again["open"]
    assert not body["ok"]
    assert body["summary"]["channels_down"] == []  # within the 30 s the alert rule allows


# --- the server ---------------------------------------------------------------------------------


async def test_the_servers_drain_is_a_server_restart_that_closes_on_reconnect(fresh_sandbox):
    sb = fresh_sandbox()
    channels = [ChannelConfig(topic="inc-drain"), ChannelConfig(topic="inc-drain-2")]
    async with Watch(sb, channels) as w:
        await until(lambda: subscribed(w, "inc-drain"), 5, "the join")
        await nothing_lost(w, sb, "inc-drain", 10)
        asked = time.monotonic()
        sb.fault("disconnect")
        inc = await w.incident(pb.SERVER_RESTART, "socket")
        assert time.monotonic() - asked < REPORT_WITHIN_S
        await until(lambda: not w.incidents(pb.SERVER_RESTART)[0]["open"], 5, "the recovery")
        await until(lambda: subscribed(w, "inc-drain"), 5, "the rejoin")
        await nothing_lost(w, sb, "inc-drain", 10, before=10)
        closed = w.incidents(pb.SERVER_RESTART)[0]
        malformed = w.sup.malformed_frames
    assert inc["first_message"] == "Server requested disconnect"
    assert malformed == 0
    assert closed["closed_at"] >= closed["opened_at"]
    # the message on every channel and the 1012 close are one restart, in the server's words
    assert len(w.incidents(pb.SERVER_RESTART)) == 1 and closed["count"] == 1
    assert closed["message"] == "Server requested disconnect"


async def test_a_crashed_channel_is_server_crash_and_recovers_on_rejoin(sandbox):
    topic, bystander = "inc-crash", "inc-bystander-crash"
    async with Watch(sandbox, [ChannelConfig(topic=topic), ChannelConfig(topic=bystander)]) as w:
        await until(lambda: subscribed(w, topic) and subscribed(w, bystander), 5, "the joins")
        await nothing_lost(w, sandbox, topic, 10)
        sandbox.fault("phx_error", {"topic": topic})
        inc = await w.incident(pb.SERVER_CRASH, topic)
        await nothing_lost(w, sandbox, bystander, 10)  # the other channel did not notice
        await until(lambda: not w.incidents(pb.SERVER_CRASH, topic)[0]["open"], 5, "the rejoin")
        await nothing_lost(w, sandbox, topic, 10, before=10)  # the rejoined channel delivers
    assert "phx_error" in inc["message"]
    assert inc["action"] == "rejoin in 1 s"


async def test_an_idle_socket_closed_by_the_server_is_server_idle_close(fresh_sandbox):
    sb = fresh_sandbox("--idle-timeout-ms", "1500")
    # no probe: the monitor's only traffic is realtime-py's heartbeat, every 15 s
    async with Watch(sb, [ChannelConfig(topic="inc-idle")], probe=False) as w:
        await until(lambda: subscribed(w, "inc-idle"), 5, "the join")
        inc = await w.incident(pb.SERVER_IDLE_CLOSE, "socket", timeout=1.5 + REPORT_WITHIN_S)
    assert inc["message"] == "closed by server (code 1000)"
    assert "heartbeat" in inc["fix"]


async def test_a_killed_server_is_a_network_incident_until_it_is_back(fresh_sandbox, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sb = fresh_sandbox(port=port, data_dir=tmp_path / "net")
    async with Watch(sb, [ChannelConfig(topic="inc-net")]) as w:
        await until(lambda: subscribed(w, "inc-net"), 5, "the join")
        sb.stop(signal.SIGKILL)
        inc = await w.incident(pb.NETWORK, "socket")
        fresh_sandbox(port=port, data_dir=tmp_path / "net")
        await until(lambda: not w.incidents(pb.NETWORK, "socket")[0]["open"], 10, "the recovery")
        await until(lambda: subscribed(w, "inc-net"), 5, "the rejoin")
    assert inc["first_message"] == "connection lost (code 1006)"
    # then the reconnects' own words, one incident for the whole outage
    assert len(w.incidents(pb.NETWORK, "socket")) == 1


# --- limits ------------------------------------------------------------------------------------


async def test_more_channels_than_the_server_allows_is_quota_channels_not_a_dead_probe(
    fresh_sandbox,
):
    sb = fresh_sandbox("--max-channels", "3")  # the probe and two of the three watched
    channels = [ChannelConfig(topic=f"inc-many-{i}") for i in range(3)]
    async with Watch(sb, channels) as w:
        inc = await w.incident(pb.QUOTA_CHANNELS, "inc-many-2")
        await nothing_lost(w, sb, "inc-many-0", 10)
        snap = w.store.snapshot()
    assert inc["message"] == "ChannelRateLimitReached: Too many channels"
    assert inc["action"].startswith("stopped rejoining")
    assert snap.reconnects_total == 0  # the probe joined first and kept the socket honest
    assert subscribed(w, "inc-many-0") and subscribed(w, "inc-many-1")


async def test_a_full_project_refuses_the_socket_as_quota_connections(fresh_sandbox):
    sb = fresh_sandbox("--max-concurrent-users", "1")
    other = await Wire.open(sb.url, sb.anon_key)  # the one user the project allows
    try:
        await other.join("someone-else")
        async with Watch(sb, [ChannelConfig(topic="inc-full")]) as w:
            inc = await w.incident(pb.QUOTA_CONNECTIONS, "socket", timeout=2 + REPORT_WITHIN_S)
    finally:
        await other.close()
    assert "Too many connected users" in inc["message"]
    assert inc["action"].startswith("reconnect in 1") and float(inc["action"].split()[2]) >= 10


QUICK_TICK = ("--rate-tick-ms", "500")  # the server's rate counters tick 10x faster


async def test_joins_over_the_rate_are_quota_joins_on_the_channel_and_the_socket(fresh_sandbox):
    sb = fresh_sandbox("--max-joins-per-second", "2", *QUICK_TICK)
    topic = "inc-joins"
    async with Watch(sb, [ChannelConfig(topic=topic)]) as w:
        await until(lambda: subscribed(w, topic), 5, "the join")
        other = await Wire.open(sb.url, sb.anon_key)
        try:
            for i in range(11):  # over 2/s at the next tick
                await other.join(f"someone-{i}")
        finally:
            await other.close()
        await asyncio.sleep(0.8)
        sb.fault("phx_error", {"topic": topic})  # the monitor must join again
        inc = await w.incident(pb.QUOTA_JOINS, topic)
        socket_inc = await w.incident(pb.QUOTA_JOINS, "socket")
    assert inc["message"] == "ClientJoinRateLimitReached: Too many joins per second"
    assert inc["action"] == "rejoin in 30 s"
    # the server closed the socket after the refusal: that close is the quota's, not idleness
    assert socket_inc["message"].startswith(("closed by server (code 100", "HTTP 429"))


async def test_presence_over_the_tenants_rate_is_quota_presence(fresh_sandbox):
    sb = fresh_sandbox("--max-presence-events-per-second", "1", *QUICK_TICK)
    topic = "inc-presence"
    a = await Wire.open(sb.url, sb.anon_key)
    b = await Wire.open(sb.url, sb.anon_key)
    try:
        ja, _ = await a.join(topic, {"presence": {"key": "a", "enabled": True}})
        jb, _ = await b.join(topic, {"presence": {"key": "b", "enabled": True}})
        for wire, jr, n in ((a, ja, 1), (b, jb, 2)):  # 8 presence messages in one tick
            track = {"event": "track", "payload": {"n": n}}
            await wire.send(f"realtime:{topic}", "presence", track, None, jr)
        await asyncio.sleep(0.8)
        channel = ChannelConfig(topic=topic, presence=True, presence_key="monitor")
        async with Watch(sb, [channel]) as w:  # its join's state sync is over the limit
            inc = await w.incident(pb.QUOTA_PRESENCE, topic)
    finally:
        await a.close()
        await b.close()
    assert inc["message"] == "Too many presence messages per second"
    assert inc["action"] == "rejoin in 30 s"
