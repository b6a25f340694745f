"""Alert delivery without a monitor: the dedup/repeat/resolve state machine on lists of checks
and a clock we move by hand, the bodies each receiver format gets, the backoff, the `[notify]`
config's errors, and a webhook's queue, retries and drops against a real local HTTP server."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from metrics.alerts import Check
from monitor.config import ConfigError, load_config
from monitor.notify import (
    FIRING,
    RESOLVED,
    AlertTracker,
    Notice,
    Notifier,
    Webhook,
    backoff,
    body,
    families,
    human_duration,
    slack_body,
    webhook_names,
)
from monitor.notify_settings import NotifyConfig, WebhookConfig, safe_url


def latency(level: str, value: float = 1500.0) -> Check:
    return Check("latency_p95_ms", value, 1000.0, level, f"commit-to-receive p95 {value:g} ms")


def run(tracker: AlertTracker, levels: str, start: float = 1000.0, step: float = 5.0):
    """Feed one latency check per character (a=alert, o=ok, w=warn, n=nodata), `step` seconds
    apart; returns [(t, status, repeat)] of the notices."""
    names = {"a": "alert", "o": "ok", "w": "warn", "n": "nodata"}
    out = []
    for i, c in enumerate(levels):
        t = start + i * step
        out += [(t, n.status, n.repeat) for n in tracker.update([latency(names[c])], t)]
    return out


# --- the state machine ---------------------------------------------------------------------


def test_one_firing_not_one_per_evaluation_and_one_resolved_with_its_duration():
    tracker = AlertTracker("p", for_s=0, repeat_s=0)
    got = []
    for i, level in enumerate(["ok", "alert", "alert", "alert", "alert", "ok", "ok"]):
        got += tracker.update([latency(level)], 100.0 + i)
    assert [n.status for n in got] == [FIRING, RESOLVED]
    firing, resolved = got
    assert (firing.project, firing.rule, firing.level, firing.value) == (
        "p",
        "latency_p95_ms",
        "alert",
        1500.0,
    )
    assert firing.started_at == resolved.started_at == 101.0
    assert resolved.at == 105.0 and resolved.duration_s == 4.0 and resolved.level == "ok"


def test_for_s_keeps_a_short_breach_from_paging():
    tracker = AlertTracker("p", for_s=10, repeat_s=0)
    # two evaluations at alert (5 s) then ok: pending, never fired, nothing to resolve
    assert run(tracker, "oaaooaoao") == []
    # three in a row span 10 s: fires on the third, started at the first
    tracker = AlertTracker("p", for_s=10, repeat_s=0)
    assert run(tracker, "oaaaa") == [(1015.0, FIRING, 0)]


def test_nodata_holds_a_firing_rule_and_interrupts_a_pending_one():
    tracker = AlertTracker("p", for_s=0, repeat_s=0)
    assert run(tracker, "annnno") == [(1000.0, FIRING, 0), (1025.0, RESOLVED, 0)]
    tracker = AlertTracker("p", for_s=10, repeat_s=0)
    assert run(tracker, "aanaa") == []  # pending restarted after the nodata


def test_warn_is_out_of_alert():
    tracker = AlertTracker("p", for_s=0, repeat_s=0)
    assert [s for _, s, _ in run(tracker, "aaw")] == [FIRING, RESOLVED]


def test_repeat_interval_and_zero_means_never():
    tracker = AlertTracker("p", for_s=0, repeat_s=12)
    got = run(tracker, "a" * 8 + "o")  # 0, 5, ..., 35 s at alert
    assert got == [
        (1000.0, FIRING, 0),
        (1015.0, FIRING, 1),  # 15 s >= 12 s after the last send
        (1030.0, FIRING, 2),
        (1040.0, RESOLVED, 0),
    ]
    tracker = AlertTracker("p", for_s=0, repeat_s=0)
    assert len(run(tracker, "a" * 1000)) == 1


def test_rules_are_tracked_apart_and_a_missing_rule_holds():
    tracker = AlertTracker("p", for_s=0, repeat_s=0)
    up = Check("uptime", 0.5, 0.99, "alert", "uptime 0.5")
    first = tracker.update([latency("alert"), up], 0.0)
    assert sorted(n.rule for n in first) == ["latency_p95_ms", "uptime"]
    assert tracker.update([up], 1.0) == []  # latency not evaluated: still firing
    assert sorted(tracker.firing) == ["latency_p95_ms", "uptime"]
    resolved = tracker.update([latency("ok"), up], 2.0)
    assert [(n.rule, n.status) for n in resolved] == [("latency_p95_ms", RESOLVED)]
    assert tracker.firing == ["uptime"]


# --- bodies ------------------------------------------------------------------------------


def notice(status: str = FIRING, value: float = 1500.0, **kw) -> Notice:
    fields = dict(
        status=status,
        project="prod",
        rule="latency_p95_ms",
        level="alert" if status == FIRING else "ok",
        value=value,
        threshold=1000.0,
        message="commit-to-receive p95 <1500> & more",
        started_at=1_700_000_000.0,
        at=1_700_000_020.5,
    )
    return Notice(**{**fields, **kw})


def test_json_body_names_every_field():
    got = orjson.loads(body(notice(RESOLVED, value=800.0), "json"))
    ident = got.pop("id")
    assert ident == notice(RESOLVED, value=900.0, at=0.0).id  # every attempt of this notice
    assert len({ident, notice().id, notice(repeat=1).id, notice(rule="uptime").id}) == 4
    assert got == {
        "source": "realtime-monitor",
        "status": "resolved",
        "repeat": 0,
        "project": "prod",
        "rule": "latency_p95_ms",
        "level": "ok",
        "value": 800.0,
        "threshold": 1000.0,
        "message": "commit-to-receive p95 <1500> & more",
        "started_at": "2023-11-14T22:13:20.000Z",
        "at": "2023-11-14T22:13:40.500Z",
        "duration_s": 20.5,
    }
    assert orjson.loads(body(notice(value=math.nan), "json"))["value"] is None


def test_slack_body_has_text_and_blocks_escaped():
    firing = slack_body(notice())
    assert firing["text"].startswith(":rotating_light: FIRING prod · latency_p95_ms: ")
    assert "&lt;1500&gt; &amp; more" in firing["text"] and "<1500>" not in firing["text"]
    assert [b["type"] for b in firing["blocks"]] == ["section", "context"]
    facts = firing["blocks"][1]["elements"][0]["text"]
    assert "value 1500 (threshold 1000)" in facts and "since 2023-11-14T22:13:20.000Z" in facts
    resolved = slack_body(notice(RESOLVED))
    assert resolved["text"].startswith(
        ":white_check_mark: RESOLVED prod · latency_p95_ms after 20 s"
    )
    assert "lasted 20 s" in resolved["blocks"][1]["elements"][0]["text"]
    again = slack_body(notice(repeat=2, at=1_700_000_000.0 + 8 * 3600))
    assert "(still firing, 8 h)" in again["text"]


def test_human_durations():
    assert [human_duration(s) for s in (0.4, 59, 60, 243, 3600, 7500)] == [
        "0 s",
        "59 s",
        "1 min",
        "4 min 3 s",
        "1 h",
        "2 h 5 min",
    ]


# --- backoff and config -------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap():
    rng = random.Random(7)
    for attempt, step in enumerate([1, 2, 4, 8, 16, 30, 30, 30]):
        waits = [backoff(attempt, 1.0, 30.0, rng) for _ in range(200)]
        assert step / 2 <= min(waits) and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not in step
    assert backoff(10_000, 1.0, 30.0, rng) <= 30.0


def test_safe_url_keeps_only_scheme_and_host():
    assert safe_url("https://hooks.slack.com/services/T0/B0/SECRET") == "https://hooks.slack.com"
    assert safe_url("http://127.0.0.1:8080/x?token=s") == "http://127.0.0.1:8080"
    assert webhook_names(
        [
            WebhookConfig(url="https://hooks.slack.com/a"),
            WebhookConfig(url="https://hooks.slack.com/b"),
            WebhookConfig(url="https://x.example/c", name="ops"),
        ]
    ) == ["hooks.slack.com", "hooks.slack.com#2", "ops"]


def test_notify_section_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://hooks.slack.com/services/T0/B0/SECRET")
    path = tmp_path / "watch.toml"
    path.write_text(
        "[notify]\nevaluate_s = 2\nfor_s = 0\nrepeat_s = 0\n"
        "[[notify.webhooks]]\nurl = '${HOOK_URL}'\nformat = 'slack'\n"
        "[[notify.webhooks]]\nurl = 'http://127.0.0.1:9/hook'\nname = 'mine'\n"
        "headers = { Authorization = 'Bearer t' }\ntimeout_s = 3\n"
    )
    cfg = load_config(path).notify
    assert (cfg.evaluate_s, cfg.for_s, cfg.repeat_s) == (2.0, 0.0, 0.0)
    assert cfg.webhooks[0].format == "slack" and cfg.webhooks[0].url.endswith("/SECRET")
    assert cfg.webhooks[1].headers == {"Authorization": "Bearer t"}
    assert NotifyConfig().webhooks == [] and NotifyConfig().repeat_s == 4 * 3600


@pytest.mark.parametrize(
    "text, message",
    [
        ("[notify]\nrepeat_s = -1\n", "notify.repeat_s must not be negative, got -1"),
        ("[notify]\nrepeat = 60\n", "unknown key 'repeat' in [notify]; allowed: evaluate_s"),
        ("[notify]\nrepeat = 60\n", "(did you mean 'repeat_s'?)"),
        ("[notify]\nevaluate_s = 0\n", "notify.evaluate_s must be greater than 0"),
        (
            "[notify]\nretry_initial_s = 10\nretry_max_s = 5\n",
            "notify.retry_max_s must be at least retry_initial_s (10), got 5",
        ),
        ("[[notify.webhooks]]\nformat = 'json'\n", "notify.webhooks[0].url is missing"),
        (
            "[[notify.webhooks]]\nurl = 'hooks.slack.com/services/T0/B0/SECRET'\n",
            "notify.webhooks[0].url must be an http:// or https:// URL",
        ),
        (
            "[[notify.webhooks]]\nurl = 'http://h/x'\nformat = 'teams'\n",
            "notify.webhooks[0].format",
        ),
        (
            "[[notify.webhooks]]\nurl = 'http://h/x'\nheaders = 'Bearer'\n",
            "notify.webhooks[0].headers must be a table",
        ),
        (
            "[[notify.webhooks]]\nurl = 'http://h/x'\nname = 'a'\n"
            "[[notify.webhooks]]\nurl = 'http://h/y'\nname = 'a'\n",
            "notify.webhooks[1].name 'a' is used twice",
        ),
        (
            "[[notify.webhooks]]\nurl = 'http://h/x'\ntimeout = 3\n",
            "unknown key 'timeout' in [notify.webhooks[0]]",
        ),
    ],
)
def test_bad_notify_config_names_the_key(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    path = tmp_path / "watch.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert "SECRET" not in str(info.value)


# --- a webhook against a real local receiver ----------------------------------------------


class Receiver:
    """An aiohttp server on 127.0.0.1 that answers with `status` and keeps what it accepted."""

    def __init__(self) -> None:
        self.status = 200
        self.accepted: list[dict] = []
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        data = orjson.loads(await request.read())
        if self.status == 200:
            self.accepted.append(data)
        return web.Response(status=self.status)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/services/T0/B0/SECRET"

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def config(url: str, **kw) -> NotifyConfig:
    fields = {
        "evaluate_s": 0.05,
        "for_s": 0.0,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.1,
        "max_age_s": 60.0,
        "webhooks": [{"url": url}],
    }
    return NotifyConfig.model_validate({**fields, **kw})


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_full_queue_drops_the_oldest_and_counts_it():
    hook = Webhook(
        WebhookConfig(url="http://127.0.0.1:9/x"), "x", config("http://x/", queue_size=3)
    )
    for i in range(5):
        hook.put(notice(value=float(i)))
    assert [n.value for n, _ in hook.queue] == [2.0, 3.0, 4.0]
    assert hook.dropped["queue_full"] == 2


async def test_notifier_delivers_once_retries_a_500_and_counts(caplog):
    caplog.set_level(logging.INFO, "monitor.notify")
    level = {"now": "alert"}
    async with (r := Receiver()) as url:
        r.status = 500
        notifier = Notifier("p", lambda: [latency(level["now"])], config(url))
        notifier.start()
        try:
            await wait_for(lambda: notifier.webhooks[0].failed_attempts >= 3)
            hook = notifier.webhooks[0]
            assert r.accepted == [] and hook.failed_attempts >= 3 and hook.pending == 1
            r.status = 200
            await wait_for(lambda: len(r.accepted) == 1)
            level["now"] = "ok"
            await wait_for(lambda: len(r.accepted) == 2)
            await asyncio.sleep(0.3)  # many evaluations later: nothing more
        finally:
            await notifier.stop()
    assert [(m["status"], m["rule"]) for m in r.accepted] == [
        ("firing", "latency_p95_ms"),
        ("resolved", "latency_p95_ms"),
    ]
    assert hook.sent == 2 and hook.dropped == {"queue_full": 0, "expired": 0, "rejected": 0}
    failing = [m for m in caplog.messages if "is failing" in m]
    assert len(failing) == 1 and "HTTP 500" in failing[0]
    assert sum("delivering again" in m for m in caplog.messages) == 1
    assert "SECRET" not in caplog.text and "/services/" not in caplog.text
    reg = CollectorRegistry()

    class Extra:
        def collect(self):
            return families([notifier])

    reg.register(Extra())
    text = generate_latest(reg).decode()
    labels = f'{{project="p",webhook="{hook.name}"}}'
    assert hook.name == url.split("/")[2]  # host:port, no path
    assert f"realtime_monitor_notify_sent_total{labels} 2.0" in text
    assert f"realtime_monitor_notify_failed_attempts_total{labels} {hook.failed_attempts}.0" in text
    expired = f'{{project="p",reason="expired",webhook="{hook.name}"}}'
    assert f"realtime_monitor_notify_dropped_total{expired} 0.0" in text
    assert 'realtime_monitor_notify_firing{project="p"} 0.0' in text


async def test_expired_and_rejected_notices_are_dropped_and_counted(caplog):
    async with (r := Receiver()) as url:
        r.status = 503
        hook = Webhook(WebhookConfig(url=url), "x", config(url, max_age_s=0.3))
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(hook.run(session))
            hook.put(notice())
            await wait_for(lambda: hook.dropped["expired"] == 1)
            assert 2 <= hook.failed_attempts <= 10  # backed off, not hammered
            r.status = 404
            before = r.attempts
            hook.put(notice())
            await wait_for(lambda: hook.dropped["rejected"] == 1)
            assert r.attempts == before + 1  # a 404 is not retried
            task.cancel()
    assert hook.sent == 0


def test_the_example_documents_the_defaults_and_its_webhooks_load(tmp_path, monkeypatch):
    """watch.example.toml's [notify] is the defaults, and its commented webhooks, uncommented,
    are a valid config (so the documentation cannot drift from the model)."""
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / "watch.example.toml").read_text()
    start = example.index("[notify]")
    block = example[start : example.index("\n\n", start)]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and "=" in line or line.startswith("# [[") else line
        for line in block.splitlines()
    )
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/S")
    monkeypatch.setenv("ALERTS_TOKEN", "t")
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    path = tmp_path / "watch.toml"
    path.write_text(uncommented)
    cfg = load_config(path).notify
    assert cfg.model_dump(exclude={"webhooks"}) == NotifyConfig().model_dump(exclude={"webhooks"})
    assert [(w.format, w.name) for w in cfg.webhooks] == [("slack", "ops-chat"), ("json", "")]
    assert cfg.webhooks[1].headers == {"Authorization": "Bearer t"}


def test_notify_is_shared_by_every_project(tmp_path):
    """One [notify] for the file; each project gets a notifier of its own with it."""
    path = tmp_path / "watch.toml"
    path.write_text(
        "[notify]\nfor_s = 1\n"
        "[[projects]]\nname = 'a'\n[[projects]]\nname = 'b'\n"
        "[projects.notify]\nfor_s = 2\n"
    )
    with pytest.raises(ConfigError, match=r"projects\[1\].notify: \[notify\] is shared"):
        load_config(path)
    path.write_text("[notify]\nfor_s = 1\n[[projects]]\nname = 'a'\n[[projects]]\nname = 'b'\n")
    assert [c.notify.for_s for c in load_config(path).per_project()] == [1.0, 1.0]


async def test_no_webhook_no_families_and_no_tasks():
    notifier = Notifier("p", lambda: [latency("alert")], NotifyConfig())
    notifier.start()
    assert not notifier.enabled and notifier._tasks == []
    assert list(families([notifier])) == []
    await notifier.stop()


async def test_a_429_retry_after_is_heeded_up_to_the_cap():
    """Slack answers 429 with Retry-After; the next attempt waits that long, never past
    retry_max_s."""
    seen: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return web.Response(status=429, headers={"Retry-After": "0.4"})
        if len(seen) == 2:
            return web.Response(status=429, headers={"Retry-After": "3600"})
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/h"
    hook = Webhook(WebhookConfig(url=url), "x", config(url, retry_max_s=0.6))
    try:
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(hook.run(session))
            hook.put(notice())
            await wait_for(lambda: hook.sent == 1)
            task.cancel()
    finally:
        await runner.cleanup()
    first, second = seen[1] - seen[0], seen[2] - seen[1]
    assert 0.4 <= first < 0.55, first  # asked 0.4 s; the backoff alone is at most 0.05 s
    assert 0.6 <= second < 0.75, second  # asked an hour; the cap is 0.6 s
