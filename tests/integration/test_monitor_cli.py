"""`python -m monitor check|record|replay` against a real sandbox with traffic of known size."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sandbox_process import until
from wire import Wire

from feeds.monitor import Monitor, RecorderSink
from feeds.recording import Recorder, load_events, replay
from feeds.settings import BindingConfig, ChannelConfig
from metrics.store import Store
from monitor.config import WatchConfig, store_params
from monitor.report import summary

ROOT = Path(__file__).resolve().parents[2]


def watch_toml(sb, path: Path, extra: str = "") -> Path:
    path.write_text(f"""
[connection]
url = "{sb.url}"
key = "{sb.anon_key}"

[[channels]]
topic = "load-rate"
[[channels]]
topic = "load-count"
[[channels]]
topic = "load-rows"
[[channels.postgres_changes]]
table = "load_rows"
[[channels]]
topic = "load-presence"
presence = true
presence_key = "monitor"

[probes.broadcast]
interval_s = 0.5
{extra}
""")
    return path


async def stats(sb) -> dict:
    async with aiohttp.ClientSession() as s, s.get(sb.url + "/sandbox/v1/stats") as r:
        return await r.json()


async def paced(sb, topic: str, rate: float, stop: asyncio.Event) -> int:
    """Broadcast at a steady rate on an absolute schedule until told to stop."""
    headers = {"apikey": sb.service_role_key}
    url = f"{sb.url}/realtime/v1/api/broadcast/{topic}/events/tick"
    sent = 0
    start = time.monotonic()
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            async with s.post(url, json={"n": sent}, headers=headers) as r:
                assert r.status == 202
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
    return sent


async def test_check_counts_exactly_rates_within_2pct_and_latencies(fresh_sandbox, tmp_path):
    sb = fresh_sandbox()
    import psycopg2

    db = psycopg2.connect(sb.db_url)
    db.autocommit = True
    cur = db.cursor()
    cur.execute("create table public.load_rows (id int primary key, v int)")
    cur.execute("alter publication supabase_realtime add table public.load_rows")
    cfg = watch_toml(sb, tmp_path / "watch.toml")
    out = tmp_path / "check.json"
    stop = asyncio.Event()
    rate_task = asyncio.create_task(paced(sb, "load-rate", 50.0, stop))
    await asyncio.sleep(0.5)
    before = (await stats(sb))["channels"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "check",
        "--config",
        str(cfg),
        "--for",
        "15s",
        "--json-out",
        str(out),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while (await stats(sb))["channels"] < before + 5:  # 4 channels + the probe's
        assert time.monotonic() < deadline, "the monitor did not join"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    headers = {"apikey": sb.service_role_key}
    async with aiohttp.ClientSession() as s:
        for n in (100, 37):
            body = {
                "messages": [
                    {"topic": "load-count", "event": "burst", "payload": {"i": i}} for i in range(n)
                ]
            }
            async with s.post(
                sb.url + "/realtime/v1/api/broadcast", json=body, headers=headers
            ) as r:
                assert r.status == 202
    for i in range(25):
        cur.execute("insert into public.load_rows values (%s, 0)", (i,))
    cur.execute("update public.load_rows set v = 1 where id < 10")  # one statement, 10 changes
    cur.execute("delete from public.load_rows where id >= 20")
    members = []
    for key in ("u1", "u2", "u3"):
        w = await Wire.open(sb.url, sb.anon_key)
        jr, _ = await w.join("load-presence", {"presence": {"key": key, "enabled": True}})
        await w.send(
            "realtime:load-presence",
            "presence",
            {"event": "track", "payload": {"name": key}},
            join_ref=jr,
        )
        members.append(w)
    await asyncio.sleep(0.3)
    await members[0].close()
    _, err = await proc.communicate()
    stop.set()
    await rate_task
    for w in members[1:]:
        await w.close()
    db.close()
    assert proc.returncode == 0, err.decode()
    body = json.loads(out.read_text())
    summary = body["summary"]
    detail = summary["messages"]["by_channel_kind_event"]
    assert detail["load-count"] == {"broadcast": {"burst": 137}}
    assert detail["load-rows"]["postgres_changes"] == {"INSERT": 25, "UPDATE": 10, "DELETE": 5}
    assert summary["presence"]["load-presence"] == 2
    rate = summary["rates"]["by_channel"]["load-rate"]
    assert abs(rate - 50.0) / 50.0 < 0.02, f"rate {rate:.2f}/s, sent 50/s"
    commit = summary["latency_ms"]["commit"]
    # sane milliseconds, not a latency budget (benchmarks/sandbox_fanout.py measures that): the
    # stream's p50 is a few ms on a quiet machine, 167 ms beside a 2,000 events/s soak
    assert commit["count"] == 40 and 0 < commit["p50"] < 500 and commit["p99"] < 2000
    rtt = summary["latency_ms"]["probe_rtt"]
    assert rtt["count"] >= 20 and 0 < rtt["p50"] < 100
    assert summary["connection"]["uptime"] == pytest.approx(1.0, abs=0.01)
    assert summary["connection"]["reconnects_total"] == 0
    assert {c: v["state"] for c, v in summary["channels"].items()} == dict.fromkeys(
        ["load-rate", "load-count", "load-rows", "load-presence"], "SUBSCRIBED"
    )
    assert body["ok"] is True


async def test_check_exits_nonzero_when_a_threshold_is_crossed(fresh_sandbox, tmp_path):
    sb = fresh_sandbox()
    cfg = watch_toml(sb, tmp_path / "watch.toml", extra="[alerts]\nrate_min = 1000\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(cfg), "--for", "2s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "ALERT rate: message rate" in result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_bad_config_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "watch.toml"
    bad.write_text("[probes.broadcast]\nintervall = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown key 'intervall' in [probes.broadcast]" in result.stderr


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
async def test_record_then_replay_reproduces_the_store(sandbox, sql, tmp_path, suffix):
    # A table of this run's own: changes committed before a join can still reach it (the
    # server decodes the WAL after the join, as Supabase's polling does), so emptying a shared
    # table first put the other run's DELETEs into this one's latency samples.
    table = f"rec_rows_{suffix[1:]}"
    sql(f"drop table if exists public.{table}")
    sql(f"create table public.{table} (id int primary key, v text)")
    sql(f"alter publication supabase_realtime add table public.{table}")
    cfg = WatchConfig(
        channels=[
            ChannelConfig(topic="rec-bc"),
            ChannelConfig(topic="rec-rows", postgres_changes=[BindingConfig(table=table)]),
            ChannelConfig(topic="rec-presence", presence=True),
        ]
    )
    cfg.connection.url, cfg.connection.key = sandbox.url, sandbox.anon_key
    cfg.probes.broadcast.interval_s = 0.2
    path = tmp_path / f"rec{suffix}"
    live = Store()
    with Recorder(path, flush_every=7) as recorder:
        monitor = Monitor(cfg, [live, RecorderSink(recorder)])
        await monitor.start()
        await until(
            lambda: live.snapshot().subscription_counts.get("SUBSCRIBED", 0) == 3,
            timeout=15,
            what="the three channels subscribed",
        )
        w = await Wire.open(sandbox.url, sandbox.anon_key)
        jr, _ = await w.join("rec-bc")
        for i in range(30):
            await w.send(
                "realtime:rec-bc",
                "broadcast",
                {"type": "broadcast", "event": "e", "payload": {"i": i}},
                join_ref=jr,
            )
        for i in range(12):
            sql(f"insert into public.{table} values (%s, 'x')", i)
        pj, _ = await w.join("rec-presence", {"presence": {"key": "p", "enabled": True}})
        await w.send(
            "realtime:rec-presence", "presence", {"event": "track", "payload": {}}, join_ref=pj
        )
        await asyncio.sleep(0.8)
        await w.close()
        await asyncio.sleep(0.3)
        await monitor.stop()
    live_snap = live.snapshot()
    events = load_events(path)
    assert len(events) == live_snap.seq
    replayed = Store()
    count = await replay(path, replayed, speed=None)
    assert count == recorder.count
    now = max(e.received_at for e in events)
    a, b = summary(live.snapshot(now=now)), summary(replayed.snapshot(now=now))
    assert a["messages"] == b["messages"]
    assert a["messages"]["by_channel_kind_event"]["rec-bc"] == {"broadcast": {"e": 30}}
    assert a["messages"]["by_channel_kind_event"]["rec-rows"]["postgres_changes"]["INSERT"] == 12
    assert a["latency_ms"]["commit"]["count"] == b["latency_ms"]["commit"]["count"] == 12
    assert a["channels"].keys() == b["channels"].keys()
    assert b["presence"] == a["presence"]


def test_report_is_strict_json_with_epoch_times():
    """NaN (no samples yet), NumPy numbers and pandas times all come out as JSON a strict
    parser accepts: null and plain numbers, times as epoch seconds."""
    from feeds.events import Event, StatusChange, SubscriptionChange
    from monitor.report import dumps, report

    config = WatchConfig()
    store = Store(**store_params(config, window_s=10))
    store.record_status(StatusChange(1000.0, "connecting"))
    store.record_status(StatusChange(1000.5, "connected"))
    store.record_status(StatusChange(1002.0, "reconnecting", "connection lost"))
    store.record_status(StatusChange(1003.0, "connected"))
    store.record_subscription(SubscriptionChange(1000.6, "room", "SUBSCRIBED"))
    record = {"itinerary_id": 7, "presence_opt_in": 2, "presence_visible": 1}
    data = {"schema": "group", "table": "live_slots", "type": "INSERT", "record": record}
    store.ingest(
        Event(
            1001.0,
            "slots",
            "postgres_changes",
            "INSERT",
            "group",
            "live_slots",
            commit_ts=1000.99,
            latency_ms=10.0,
            size=90,
            payload={"data": data},
        )
    )
    store.ingest(Event(1001.5, "room", "broadcast", "msg", size=20))
    body, ok = report(store.snapshot(now=1005.0), config, "test", 5.0)

    def no_constants(name):
        raise AssertionError(f"{name} in the JSON")

    parsed = json.loads(dumps(body), parse_constant=no_constants)
    summary_ = parsed["summary"]
    assert summary_["latency_ms"]["probe_rtt"]["p50"] is None  # NaN: no probe samples
    assert summary_["messages"]["by_channel_kind_event"]["room"] == {"broadcast": {"msg": 1}}
    assert summary_["channels"]["room"]["state"] == "SUBSCRIBED"
    outage = summary_["connection"]["outages"][0]
    assert outage["start"] == 1002.0 and outage["end"] == 1003.0
    assert summary_["replica"][0]["key"] == "7" and summary_["replica"][0]["presence_opt_in"] == 2
    assert parsed["ok"] is ok and parsed["config"] == "defaults"


async def test_replay_at_speed_moves_time_to_now_and_keeps_spacing(tmp_path):
    from feeds.events import Event

    path = tmp_path / "r.jsonl"
    with Recorder(path) as rec:
        for i in range(5):
            rec.event(Event(1000.0 + i * 0.4, "c", "broadcast", "e", size=10))
    got = []

    class Sink:
        def ingest(self, e):
            got.append((time.time(), e.received_at))

        def record_status(self, c):
            pass

        def record_subscription(self, c):
            pass

    started = time.time()
    await replay(path, Sink(), speed=4.0)
    took = time.time() - started
    assert 0.35 < took < 0.9  # 1.6 s of recording at 4x
    assert all(abs(wall - at) < 0.1 for wall, at in got)
    gaps = [b[1] - a[1] for a, b in zip(got, got[1:], strict=False)]
    assert all(abs(g - 0.1) < 1e-6 for g in gaps)


async def test_outage_lands_on_the_timeline_and_in_uptime(fresh_sandbox, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sb = fresh_sandbox(port=port, data_dir=tmp_path / "o")
    cfg = WatchConfig(channels=[ChannelConfig(topic="outage")])
    cfg.connection.url, cfg.connection.key = sb.url, sb.anon_key
    store = Store()
    monitor = Monitor(cfg, [store])
    await monitor.start()
    await asyncio.sleep(2.0)
    sb.stop(signal.SIGKILL)
    await asyncio.sleep(3.0)
    fresh_sandbox(port=port, data_dir=tmp_path / "o")
    await until(
        lambda: store.snapshot().status.status == "connected",
        timeout=15,
        what="a reconnect to the restarted sandbox",
    )
    await asyncio.sleep(1.0)
    snap = store.snapshot()
    await monitor.stop()
    outages = snap.outages
    assert len(outages) == 1
    row = outages.iloc[0]
    assert 3.0 < row["duration_s"] < 6.0, row
    assert "connection lost" in row["reason"] or "closed" in row["reason"]
    assert snap.reconnects_total == 1 and len(snap.reconnect_durations) == 1
    expected = 1 - row["duration_s"] / snap.effective_window_s
    assert snap.uptime == pytest.approx(expected, abs=0.02)
    assert 0.3 < snap.uptime < 0.8


def test_no_config_starts_the_sandbox_and_record_replay_cli(tmp_path):
    """Zero configuration: the monitor starts the bundled sandbox with demo traffic itself."""
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUPABASE_") and k != "REALTIME_MONITOR_CONFIG"
    }
    env["SANDBOX_DATA_DIR"] = str(tmp_path / "sandbox")
    out = tmp_path / "demo.parquet"
    rec = subprocess.run(
        [sys.executable, "-m", "monitor", "record", "--out", str(out), "--for", "5s"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert rec.returncode == 0, rec.stderr
    assert "recorded" in rec.stderr
    rep = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(out)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    body = json.loads(rep.stdout)
    detail = body["summary"]["messages"]["by_channel_kind_event"]
    assert detail["demo"]["broadcast"]["tick"] >= 5  # ~3/s of demo ticks
    assert "postgres_changes" in detail["demo-rows"]
    assert body["summary"]["channels"]["demo"]["state"] == "SUBSCRIBED"
    assert body["records"] > 20


async def test_a_silent_socket_is_detected_by_the_probe_and_replaced(fresh_sandbox, tmp_path):
    """SIGSTOP keeps TCP up but nothing answers: only the probe can tell, and it must."""
    sb = fresh_sandbox()
    cfg = WatchConfig(channels=[ChannelConfig(topic="frozen")])
    cfg.connection.url, cfg.connection.key = sb.url, sb.anon_key
    cfg.connection.timeout_s = 1.0
    cfg.probes.broadcast.interval_s = 0.2
    cfg.probes.broadcast.timeout_s = 0.6
    cfg.probes.broadcast.reconnect_after_timeouts = 2
    store = Store()
    monitor = Monitor(cfg, [store])
    await monitor.start()
    await until(
        lambda: store.snapshot().subscription_counts.get("SUBSCRIBED", 0) == 1,
        timeout=15,
        what="the channel subscribed",
    )
    sb.proc.send_signal(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while store.snapshot().status.status == "connected":
            assert time.monotonic() < deadline, "a frozen server went unnoticed"
            await asyncio.sleep(0.05)
    finally:
        sb.proc.send_signal(signal.SIGCONT)
    reason = store.snapshot().timeline.iloc[-1]["reason"] or ""
    deadline = time.monotonic() + 10
    while store.snapshot().status.status != "connected":
        assert time.monotonic() < deadline, "no reconnect after the server thawed"
        await asyncio.sleep(0.05)
    await monitor.stop()
    timeline = store.snapshot().timeline
    reasons = [r for r in timeline["reason"] if isinstance(r, str)]
    assert any(r.startswith("no probe echo for 0.6 s") for r in reasons), (reason, timeline)
    probe = store.snapshot().totals["probe_by_event"]
    assert sum(n for (_, _, event), n in probe.items() if event == "timeout") >= 2
