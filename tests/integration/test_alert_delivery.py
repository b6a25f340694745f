"""Alert delivery by webhook (issue 13, scope 4) against the real sandbox and a real receiver.

* A latency breach of 20 s, made by our own TCP proxy (tests/tcp_proxy.py) holding every byte
  from the sandbox to the monitor 800 ms: `python -m monitor check` delivers exactly one firing
  and one resolved notice to each webhook (generic JSON and Slack), and counts them in /metrics.
  The rule judged is `latency_p95_ms`, the commit-to-receive p95 of postgres_changes over the
  window (metrics/alerts.py), so the traffic is inserts into a watched table and the delay is on
  the way down; the window is 3 s so the p95 follows the breach within a few seconds.
* The receiver is down (port closed, then accepting but never answering in time, then answering
  500) while broadcasts flow: the dashboard's Runtime keeps ingesting every message and its
  event loop never stalls, the notifier retries with backoff, logs the outage once, and
  delivers the firing notice exactly once when the receiver comes back.
* `record` delivers too while it records.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson
import psycopg2
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sandbox_process import until
from tcp_proxy import TcpProxy

from monitor.config import WatchConfig

ROOT = Path(__file__).resolve().parents[2]
SECRET = "T000/B000/XSECRETX"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers `status`, keeps (time, path, body) of every
    request it accepted with a 2xx, and the time of every attempt."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.status = 200
        self.hang = 0.0  # seconds to wait before answering (longer than the client waits)
        self.accepted: list[tuple[float, str, dict]] = []
        self.attempts: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        now, status = time.monotonic(), self.status  # a hung request ends as it began
        self.attempts.append(now)
        data = orjson.loads(await request.read())
        if self.hang:
            await asyncio.sleep(self.hang)
        if 200 <= status < 300:
            self.accepted.append((now, request.path, data))
        return web.Response(status=status)

    def bodies(self, path_start: str) -> list[dict]:
        return [d for _t, p, d in self.accepted if p.startswith(path_start)]

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}; {} while not up."""
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(
        v
        for (n, ls), v in metrics.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )


def inserting(db_url: str, table: str, rate: float, stop: threading.Event) -> threading.Thread:
    """Insert rows at `rate`/s on a thread of its own: a blocking driver must not hold the
    event loop that carries the proxy."""

    def run() -> None:
        conn = psycopg2.connect(db_url)
        conn.autocommit = True  # and no `with conn`, which opens a transaction even so
        with conn.cursor() as cur:
            i, start = 0, time.monotonic()
            while not stop.is_set():
                cur.execute(f"insert into public.{table} (v) values (%s)", (i,))
                i += 1
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_a_20s_latency_breach_is_one_firing_and_one_resolved(sandbox, tmp_path):
    tag = uuid.uuid4().hex[:8]
    table, topic = f"alert_rows_{tag}", f"alert-rows-{tag}"
    with psycopg2.connect(sandbox.db_url) as db, db.cursor() as cur:
        cur.execute(f"create table public.{table} (id serial primary key, v int)")
        cur.execute(f"alter publication supabase_realtime add table public.{table}")
    db.close()
    target = urlsplit(sandbox.url)
    receiver = await Receiver().start()
    hook = f"http://127.0.0.1:{receiver.port}"
    metrics_port = free_port()
    config = tmp_path / "watch.toml"
    config.write_text(f"""
[connection]
url = "PROXY"
key = "{sandbox.anon_key}"

[[channels]]
topic = "{topic}"
[[channels.postgres_changes]]
table = "{table}"

[alerts]
latency_p95_ms_max = 400         # the stream delivers in ms (more on a busy machine); +800
probe_rtt_p95_ms_max = 0         # the probe's round trip grows too: judged elsewhere
uptime_min = 0                   # nothing else may page in this test
channel_down_s_max = 0

[buffers]
window_s = 3

[notify]
evaluate_s = 0.5
for_s = 2
retry_initial_s = 0.2
retry_max_s = 1

[[notify.webhooks]]
url = "{hook}/json/{SECRET}"

[[notify.webhooks]]
url = "{hook}/slack/{SECRET}"
format = "slack"
""")
    stop = threading.Event()
    stderr = tmp_path / "check.log"
    async with TcpProxy(target.hostname, target.port) as proxy:
        config.write_text(config.read_text().replace("PROXY", proxy.url))
        writer = inserting(sandbox.db_url, table, 20.0, stop)
        with open(stderr, "w") as log_file:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "check",
                "--config",
                str(config),
                "--for",
                "90s",
                "--metrics-port",
                str(metrics_port),
                "--log-level",
                "INFO",
                cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
            )
        try:
            # receiving: changes with their commit latency, at the stream's few ms
            async def commits() -> float:
                m = await scrape(metrics_port)
                return value(m, "realtime_monitor_commit_latency_seconds_count", channel=topic)

            deadline = time.monotonic() + 30
            while await commits() < 30:
                assert proc.returncode is None, stderr.read_text()[-3000:]
                assert time.monotonic() < deadline, stderr.read_text()[-3000:]
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            assert receiver.accepted == [], [b["message"] for b in receiver.bodies("/json/")]

            proxy.delay_down = 0.8
            breach_started = time.time()
            await until(lambda: len(receiver.accepted) >= 2, 10, "the firing notices")
            fired_after = time.time() - breach_started
            await asyncio.sleep(breach_started + 20 - time.time())
            proxy.delay_down = 0.0
            breach_ended = time.time()
            assert len(receiver.accepted) == 2, receiver.accepted  # no repeat, no resolved yet
            await until(lambda: len(receiver.accepted) >= 4, 15, "the resolved notices")
            resolved_after = time.time() - breach_ended
            await asyncio.sleep(1.0)  # two more evaluations: nothing more may come
            print(f"fired after {fired_after:.1f} s, resolved {resolved_after:.1f} s after the end")
            m = await scrape(metrics_port)
        finally:
            stop.set()
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            await receiver.stop()
            writer.join(5)

    log_text = stderr.read_text()
    assert len(receiver.accepted) == 4, receiver.accepted
    plain = receiver.bodies("/json/")
    assert [b["status"] for b in plain] == ["firing", "resolved"], plain
    firing, resolved = plain
    for b in plain:
        assert (b["project"], b["rule"], b["threshold"]) == ("127.0.0.1", "latency_p95_ms", 400.0)
        assert b["source"] == "realtime-monitor" and b["repeat"] == 0
    assert firing["level"] == "alert" and firing["value"] > 700, firing
    assert "commit-to-receive p95" in firing["message"]
    assert resolved["level"] in ("ok", "warn") and resolved["value"] < 400, resolved
    assert resolved["started_at"] == firing["started_at"]
    assert firing["id"] != resolved["id"]
    # the breach lasted 20 s; the p95 of a 3 s window follows it within a few seconds
    assert 17 <= resolved["duration_s"] <= 30, resolved
    assert fired_after < 6 and resolved_after < 10, (fired_after, resolved_after)
    slack = receiver.bodies("/slack/")
    assert len(slack) == 2
    assert slack[0]["text"].startswith(":rotating_light: FIRING 127.0.0.1 · latency_p95_ms: ")
    assert slack[1]["text"].startswith(":white_check_mark: RESOLVED 127.0.0.1 · latency_p95_ms")
    assert all(b["blocks"][0]["type"] == "section" for b in slack)
    # the run's /metrics counted them, and nothing failed
    assert value(m, "realtime_monitor_notify_sent_total") == 4, m
    assert value(m, "realtime_monitor_notify_failed_attempts_total") == 0
    assert value(m, "realtime_monitor_notify_dropped_total") == 0
    assert value(m, "realtime_monitor_notify_firing") == 0
    # the log has each notice, and never a webhook's secret path
    assert log_text.count("FIRING 127.0.0.1 · latency_p95_ms") == 1, log_text[-3000:]
    assert log_text.count("RESOLVED 127.0.0.1 · latency_p95_ms") == 1
    assert "XSECRETX" not in log_text and "/json/" not in log_text


async def test_ingest_goes_on_while_the_receiver_is_down_and_the_notice_arrives_once(
    sandbox, caplog
):
    caplog.set_level(logging.INFO, "monitor.notify")
    from monitor.runtime import Runtime

    topic = f"alert-load-{uuid.uuid4().hex[:8]}"
    # a port that refuses: bound, never listening; the receiver takes it over later
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    config = WatchConfig.model_validate(
        {
            "connection": {"url": sandbox.url, "key": sandbox.anon_key},
            "channels": [{"topic": topic}],
            "probes": {"broadcast": {"interval_s": 0.25}, "database": {"enabled": False}},
            # any round trip breaches: the rule fires as soon as the probe has data
            "alerts": {
                "probe_rtt_p95_ms_max": 0.001,
                "uptime_min": 0.0,
                "channel_down_s_max": 0.0,
            },
            "notify": {
                "evaluate_s": 0.25,
                "for_s": 0.5,
                "retry_initial_s": 0.2,
                "retry_max_s": 0.8,
                "webhooks": [
                    {"url": f"http://127.0.0.1:{port}/services/{SECRET}", "timeout_s": 1.0}
                ],
            },
        }
    )
    runtime = Runtime(config)
    hook = runtime.notifier.webhooks[0]
    receiver = Receiver(port)
    sent = 0
    flowing = asyncio.Event()
    flowing.set()

    def received() -> int:
        totals = runtime.store.snapshot().event_totals
        return sum(n for (ch, _k, _e), (n, _b) in totals.items() if ch == topic)

    async def broadcast() -> None:
        """Broadcasts on the watched topic, 4 every 100 ms, while `flowing`."""
        nonlocal sent
        url = f"{sandbox.url}/realtime/v1/api/broadcast"
        headers = {"apikey": sandbox.service_role_key}
        async with aiohttp.ClientSession() as s:
            while flowing.is_set():
                messages = [
                    {"topic": topic, "event": "tick", "payload": {"i": sent + i}} for i in range(4)
                ]
                async with s.post(url, json={"messages": messages}, headers=headers) as r:
                    assert r.status == 202
                sent += 4
                await asyncio.sleep(0.1)

    lag = [0.0]

    async def watchdog() -> None:
        """The loop's worst stall: ingest, the probes and this test all run on it."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.02)
            lag[0] = max(lag[0], time.monotonic() - before - 0.02)

    await runtime.start()
    sender = None
    watching = asyncio.create_task(watchdog())
    try:

        def subscribed() -> bool:
            rows = runtime.store.snapshot().channel_states
            return any(row[0] == topic and row[1] == "SUBSCRIBED" for row in rows)

        await until(subscribed, 15, "the monitor to join")
        sender = asyncio.create_task(broadcast())
        # refused: the notice is queued and retried; ingest goes on
        await until(lambda: hook.failed_attempts >= 3, 10, "refused attempts")
        counts = [received()]
        refused = hook.failed_attempts
        holder.close()
        receiver.status, receiver.hang = 500, 3.0
        await receiver.start()
        await until(lambda: len(receiver.attempts) >= 2, 10, "attempts left unanswered")
        counts.append(received())
        hung = len(receiver.attempts)
        receiver.hang = 0.0
        await until(lambda: len(receiver.attempts) >= hung + 3, 10, "attempts answered 500")
        counts.append(received())
        assert receiver.accepted == [] and hook.pending == 1
        receiver.status = 200
        await until(lambda: len(receiver.accepted) == 1, 5, "the notice")
        counts.append(received())
        await asyncio.sleep(1.5)  # six more evaluations while it still fires
        flowing.clear()
        await sender
        await until(lambda: received() == sent, 5, f"all {sent} broadcasts ingested")
        exposition = generate_latest(runtime.metrics_registry).decode()
    finally:
        watching.cancel()
        flowing.clear()
        if sender is not None and not sender.done():
            sender.cancel()
        await runtime.stop()
        holder.close()
        if hasattr(receiver, "runner"):
            await receiver.stop()

    # ingest never waited for the receiver: every broadcast arrived, the count rising throughout
    assert 0 < counts[0] < counts[1] < counts[2] < counts[3] <= sent, (counts, sent)
    assert lag[0] < 0.5, f"the event loop stalled {lag[0]:.2f} s"  # a blocking POST: 1 s
    # exactly one notice, the firing one, after the retries
    assert len(receiver.accepted) == 1
    (_t, path, data) = receiver.accepted[0]
    assert path == f"/services/{SECRET}"
    assert (data["status"], data["rule"], data["level"]) == ("firing", "probe_rtt_p95_ms", "alert")
    assert hook.sent == 1 and hook.pending == 0
    # every attempt but the last failed: the refused ones (one more may have slipped in while
    # the receiver was starting) and all the receiver saw
    assert hook.failed_attempts - (len(receiver.attempts) - 1) - refused in (0, 1)
    assert hook.dropped == {"queue_full": 0, "expired": 0, "rejected": 0}
    # backoff: 0.2 s doubling to a 0.8 s cap, each wait at least half its step (after an
    # unanswered attempt, the 1 s timeout comes first)
    answered = receiver.attempts[hung:]
    gaps = [b - a for a, b in zip(answered, answered[1:], strict=False)]
    assert all(0.09 <= g <= 1.0 for g in gaps), gaps
    # one outage, logged when it began and when it ended, never with the URL's path
    assert sum("is failing" in m for m in caplog.messages) == 1, caplog.messages
    assert sum("delivering again" in m for m in caplog.messages) == 1
    assert "XSECRETX" not in caplog.text and "/services/" not in caplog.text
    labels = f'project="127.0.0.1",webhook="127.0.0.1:{port}"'
    assert f"realtime_monitor_notify_sent_total{{{labels}}} 1.0" in exposition
    assert (
        f"realtime_monitor_notify_failed_attempts_total{{{labels}}} {hook.failed_attempts}.0"
        in exposition
    )
    assert 'realtime_monitor_notify_firing{project="127.0.0.1"} 1.0' in exposition


async def test_record_delivers_while_it_records(sandbox, tmp_path):
    """`record` keeps a store for the rules when [notify] has webhooks (it needs none to
    record), and delivers while it runs: run in-process, as its command handler runs it."""
    import argparse

    from monitor.record import run_record

    receiver = await Receiver().start()
    config = WatchConfig.model_validate(
        {
            "connection": {"url": sandbox.url, "key": sandbox.anon_key},
            "channels": [{"topic": f"alert-record-{uuid.uuid4().hex[:8]}"}],
            "probes": {"broadcast": {"interval_s": 0.2}, "database": {"enabled": False}},
            "alerts": {"probe_rtt_p95_ms_max": 0.001, "uptime_min": 0.0},
            "notify": {
                "evaluate_s": 0.2,
                "for_s": 0.0,
                "webhooks": [{"url": f"http://127.0.0.1:{receiver.port}/r", "format": "slack"}],
            },
        }
    )
    out = tmp_path / "run.jsonl"
    args = argparse.Namespace(out=str(out), for_=2.5, metrics_port=None, sandbox_log=None)
    try:
        assert await run_record(args, config) == 0
    finally:
        await receiver.stop()
    assert [d["text"].split(" · ")[1].split(":")[0] for d in receiver.bodies("/r")] == [
        "probe_rtt_p95_ms"
    ]
    assert out.stat().st_size > 0
