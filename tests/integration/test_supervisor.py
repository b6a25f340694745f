"""The Supervisor against a real sandbox: it joins, normalises, probes, and never gives up."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

from sandbox_process import until

from feeds import problems as pb
from feeds.events import CONNECTED, RECONNECTING, SUBSCRIBED
from feeds.settings import BindingConfig, ChannelConfig, FeedConfig
from feeds.supervisor import Supervisor


class Collect:
    def __init__(self) -> None:
        self.events, self.status, self.subs = [], [], []

    def ingest(self, e):
        self.events.append(e)

    def record_status(self, c):
        self.status.append(c)

    def record_subscription(self, c):
        self.subs.append(c)

    def states(self, channel: str) -> list[str]:
        return [s.state for s in self.subs if s.channel == channel]


def supervisor(sb, channels, sink: Collect, db: bool = False, **conn) -> Supervisor:
    cfg = FeedConfig(channels=channels)
    for k, v in conn.items():
        setattr(cfg.connection, k, v)
    cfg.probes.broadcast.interval_s = 0.2
    return Supervisor(
        cfg,
        url=sb.url,
        key=sb.anon_key,
        db_url=sb.db_url if db else None,
        on_event=sink.ingest,
        on_status=sink.record_status,
        on_subscription=sink.record_subscription,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_events_are_normalised_once_with_latency_and_probes(sandbox, sql):
    sql("create table if not exists public.sup_items (id int primary key, v text)")
    sql(
        "do $$ begin if not exists (select from pg_publication_tables where tablename = "
        "'sup_items') then alter publication supabase_realtime add table public.sup_items; "
        "end if; end $$"
    )
    sink = Collect()
    sup = supervisor(
        sandbox,
        [
            ChannelConfig(topic="sup-rows", postgres_changes=[BindingConfig(table="sup_items")]),
        ],
        sink,
        db=True,
    )
    sup.config.probes.database.interval_s = 0.3
    sup.start()
    await until(lambda: SUBSCRIBED in sink.states("sup-rows"), what="SUBSCRIBED")
    await asyncio.sleep(0.2)
    sql("insert into public.sup_items values (1, 'a')")
    sql("update public.sup_items set v = 'b' where id = 1")
    await until(lambda: len([e for e in sink.events if e.kind == "postgres_changes"]) == 2)
    await until(lambda: any(e.kind == "probe" and e.event == "rtt" for e in sink.events))
    await until(lambda: any(e.kind == "probe" and e.event == "db" for e in sink.events))
    await sup.stop()
    ins, upd = [e for e in sink.events if e.kind == "postgres_changes"]
    assert (ins.event, upd.event) == ("INSERT", "UPDATE")
    assert ins.schema == "public" and ins.table == "sup_items" and ins.channel == "sup-rows"
    assert ins.commit_ts and 0 <= ins.latency_ms < 1000
    assert ins.size > 100 and ins.payload["data"]["record"] == {"id": 1, "v": "a"}
    rtts = [e.latency_ms for e in sink.events if e.kind == "probe" and e.event == "rtt"]
    assert all(0 < r < 1000 for r in rtts)
    assert [s.status for s in sink.status][:2] == ["connecting", "connected"]
    assert sink.status[-1].status == "disconnected"


async def test_reconnects_and_resubscribes_within_2s_after_a_crash(fresh_sandbox, tmp_path):
    port = free_port()
    sb = fresh_sandbox(port=port, data_dir=tmp_path / "crash")
    sink = Collect()
    sup = supervisor(sb, [ChannelConfig(topic="crash-a"), ChannelConfig(topic="crash-b")], sink)
    sup.start()
    await until(lambda: sup.status == CONNECTED and sink.states("crash-b")[-1:] == [SUBSCRIBED])
    sb.stop(signal.SIGKILL)
    killed = time.time()
    await until(lambda: sup.status == RECONNECTING, 5, "the drop to be noticed")
    await asyncio.sleep(3)  # an outage of a few seconds: several retries fail meanwhile
    sb2 = fresh_sandbox(port=port, data_dir=tmp_path / "crash")
    back = time.time()
    await until(lambda: sup.status == CONNECTED, 5, "reconnection")
    n = len(sink.subs)
    await until(
        lambda: all(sink.states(c)[-1:] == [SUBSCRIBED] for c in ("crash-a", "crash-b")),
        5,
        "resubscription",
    )
    resubscribed = max(s.at for s in sink.subs[n - 2 :] if s.state == SUBSCRIBED)
    assert resubscribed - back < 2.0, f"resubscribed {resubscribed - back:.2f}s after READY"
    drop = next(s for s in sink.status if s.status == RECONNECTING)
    assert drop.reason and ("connection lost" in drop.reason or "closed" in drop.reason)
    assert drop.at - killed < 2.0
    reconnected = [s for s in sink.status if s.status == CONNECTED][-1]
    assert 3.0 <= reconnected.at - drop.at < 3.0 + (back - killed - 3.0) + 2.0
    await sup.stop()
    sb2.stop()


async def test_keeps_retrying_with_capped_backoff_through_a_long_outage(fresh_sandbox, tmp_path):
    port = free_port()
    sb = fresh_sandbox(port=port, data_dir=tmp_path / "long")
    sink = Collect()
    sup = supervisor(sb, [ChannelConfig(topic="long")], sink, backoff_max_s=0.3)
    attempts = []
    original = sup._open_session

    async def counted():
        attempts.append(time.monotonic())
        await original()

    sup._open_session = counted
    sup.start()
    await until(lambda: sup.status == CONNECTED)
    sb.stop(signal.SIGKILL)
    await asyncio.sleep(6)
    # realtime-py alone would have given up after 5 attempts; we are far past that
    assert len(attempts) > 10
    gaps = [b - a for a, b in zip(attempts[3:], attempts[4:], strict=False)]
    assert max(gaps) < 0.3 * 1.25 + 0.3  # capped (plus connect-refusal time)
    fresh_sandbox(port=port, data_dir=tmp_path / "long")
    await until(lambda: sup.status == CONNECTED and sink.states("long")[-1:] == [SUBSCRIBED], 5)
    await sup.stop()


async def test_refused_key_is_an_error_with_the_servers_reason_and_keeps_retrying(sandbox):
    sink = Collect()
    cfg = FeedConfig(channels=[ChannelConfig(topic="nope")])
    cfg.connection.backoff_max_s = 0.2
    sup = Supervisor(cfg, url=sandbox.url, key="not-a-key", on_status=sink.record_status)
    sup.start()
    await until(lambda: any(s.status == "error" for s in sink.status), 5)
    await asyncio.sleep(0.5)
    await sup.stop()
    err = next(s for s in sink.status if s.status == "error")
    assert err.reason.startswith("HTTP 401")
    assert "The token provided is not a valid JWT" in err.reason


async def test_a_refused_join_is_recorded_with_the_servers_reason_as_text(sandbox):
    """The reason a person reads on the channel chip and in a recording, not the reply's JSON."""
    sink = Collect()
    topic = "private-room-the-anon-key-may-not-read"
    sup = supervisor(sandbox, [ChannelConfig(topic=topic, private=True)], sink)
    sup.start()
    try:
        await until(lambda: "CHANNEL_ERROR" in sink.states(topic), 15, "the refusal")
    finally:
        await sup.stop()
    refusal = next(s for s in sink.subs if s.state == "CHANNEL_ERROR")
    assert refusal.error == (
        f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}"
    )


async def test_a_refused_channel_stalling_the_socket_is_not_a_dead_socket(fresh_sandbox):
    """Supabase delays every join error by 5 s and the socket answers nothing meanwhile (reference
    §13.1.6); realtime-py rejoins refused channels again and again, so with two of them the
    probe's echoes stall for 10 s at a time. That is not a silent socket and must not cost a
    reconnect."""
    sb = fresh_sandbox("--join-error-delay-ms", "5000")
    sink = Collect()
    refused = "private-room-the-anon-key-may-not-read"
    channels = [ChannelConfig(topic=f"{refused}-{i}", private=True) for i in range(2)]
    refused = f"{refused}-0"
    sup = supervisor(sb, channels, sink)
    # the monitor rejoins a refused private channel after 30 s; realtime-py's own 1-2-5-10 s
    # loop, which any other client may run, is what stalls a socket most
    sup.plans[pb.POLICY_DENIED] = pb.Plan(rejoin=True)
    sup.start()
    try:
        await until(lambda: "CHANNEL_ERROR" in sink.states(refused), 15, "the refusal")
        await asyncio.sleep(14)  # several rejoins, each stalling the socket for 5 s
    finally:
        await sup.stop()
    drops = [s for s in sink.status if s.status == RECONNECTING]
    assert drops == [], drops
    # the probe saw the stall as late echoes, not as lost ones
    late = [e.latency_ms for e in sink.events if e.kind == "probe" and e.event == "rtt"]
    assert max(late) > 4_000, max(late)


async def test_the_servers_drain_message_is_read_not_counted_as_malformed(fresh_sandbox):
    """Supabase's "Server requested disconnect" has no `channel` key (reference §13.1.5), which
    realtime-py's message model requires; the monitor still reads it as the server's word."""
    import json
    import urllib.request

    sb = fresh_sandbox()
    sink = Collect()
    sup = supervisor(sb, [ChannelConfig(topic="room")], sink)
    sup.start()
    try:
        await until(lambda: SUBSCRIBED in sink.states("room"), 10, "the join")
        request = urllib.request.Request(
            f"{sb.url}/sandbox/v1/disconnect",
            method="POST",
            headers={
                "apikey": sb.service_role_key,
                "Authorization": f"Bearer {sb.service_role_key}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.load(resp)["disconnected"] >= 1
        await until(lambda: sink.states("room").count(SUBSCRIBED) >= 2, 10, "the rejoin")
    finally:
        await sup.stop()
    said = [e.payload.get("message") for e in sink.events if e.kind == "system"]
    assert "Server requested disconnect" in said
    assert sup.malformed_frames == 0
