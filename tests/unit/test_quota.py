"""Quota gauges (issue 12, scope 3): a real Store fed events, its snapshot turned into one gauge
per limit of the plan, the monitor's own share apart, and the checks that alert before the
server acts. The tenant's usage poller is tested against a real aiohttp server in-process."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import pytest
from aiohttp import web

from dashboards.overview import Overview
from dashboards.quota import quota_markup
from feeds.events import Event, StatusChange, SubscriptionChange
from feeds.monitor import Monitor
from feeds.settings import FeedConfig
from feeds.usage import TenantUsage, UsagePoller, parse_stats
from metrics.quota import JOINS_KEPT, Gauge, gauges, quota_checks
from metrics.settings import PLAN_QUOTAS, QUOTA_NAMES, AlertsConfig, QuotaConfig
from metrics.shared import SharedSnapshots
from metrics.store import Store
from monitor.config import ConfigError, WatchConfig, load_config
from monitor.report import dumps, report

T0 = 10_000.0  # the store's first record; every test's clock counts from here


def by_name(gs: list[Gauge]) -> dict[str, Gauge]:
    return {g.name: g for g in gs}


def connected_store(**params) -> Store:
    store = Store(**params)
    store.record_status(StatusChange(T0, "connected"))
    return store


def feed(store: Store, start: float, seconds: float, per_s: float, **kw) -> float:
    """`per_s` broadcasts a second on "room" from `start` for `seconds`; returns the end."""
    n = round(seconds * per_s)
    for i in range(n):
        t = start + i / per_s
        store.ingest(
            Event(
                t,
                kw.get("channel", "room"),
                kw.get("kind", "broadcast"),
                "msg",
                size=kw.get("size", 50),
            )
        )
    return start + seconds


def usage(at: float, **kw) -> TenantUsage:
    values = {
        "messages_per_s": 0.0,
        "joins_per_s": 0.0,
        "presence_messages_per_s": 0.0,
        "connections": 1,
    }
    values.update(kw)
    return TenantUsage(at=at, **values)


# ---- the config ------------------------------------------------------------------------------


def test_plan_table_matches_the_published_limits_and_overrides_replace_one_number():
    assert set(PLAN_QUOTAS) == {"free", "pro", "pro_no_cap", "team", "enterprise"}
    free = QuotaConfig().limits()
    assert list(free) == list(QUOTA_NAMES)
    assert free == {
        "messages_per_s": 100,
        "joins_per_s": 100,
        "connections": 200,
        "presence_messages_per_s": 20,
        "broadcast_payload_kb": 256,
        "postgres_payload_kb": 1024,
        "channels_per_connection": 100,
    }
    pro = QuotaConfig(plan="pro", messages_per_s=42).limits()
    assert pro["messages_per_s"] == 42 and pro["joins_per_s"] == 500
    assert pro["connections"] == 500 and pro["broadcast_payload_kb"] == 3000
    assert QuotaConfig(plan="team").limits()["presence_messages_per_s"] == 1000


def test_quota_section_is_read_from_the_watch_config(tmp_path):
    path = tmp_path / "watch.toml"
    path.write_text(
        '[connection]\nurl = "http://x"\nkey = "k"\n[quota]\nplan = "pro"\nalert_pct = 90\n'
    )
    cfg = load_config(path)
    assert cfg.quota.plan == "pro" and cfg.quota.alert_pct == 90
    assert WatchConfig().quota.plan == "free"
    path.write_text('[quota]\nplan = "gold"\nalert_pct = 0\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "quota.plan" in str(err.value) and "quota.alert_pct" in str(err.value)


# ---- the monitor's own traffic ---------------------------------------------------------------


def test_nothing_recorded_is_nodata_not_ok():
    gs = gauges(Store().snapshot(now=T0), QuotaConfig())
    assert [g.name for g in gs] == list(QUOTA_NAMES)
    assert all(g.level == "nodata" and math.isnan(g.pct) for g in gs)
    assert {c.level for c in quota_checks(gs)} == {"nodata"}


def test_messages_are_the_monitors_deliveries_plus_two_per_probe_round_trip():
    store = connected_store()
    end = feed(store, T0, 60, 30)  # 30 broadcasts/s
    for i in range(60):  # one round-trip probe a second: its send and its echo
        store.ingest(Event(T0 + i + 0.5, "probe", "probe", "rtt", latency_ms=3.0, size=40))
    store.ingest(Event(end - 0.1, "room", "system", "ok"))  # not a message
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig()))["messages_per_s"]
    assert g.own == pytest.approx(32, rel=0.03) and g.used == g.own
    assert g.source == "monitor" and g.limit == 100 and g.level == "ok"
    assert g.pct == pytest.approx(32, rel=0.03)


def test_a_burst_shows_at_once_not_when_the_minute_average_catches_up():
    """The server averages 60 s; 55 quiet seconds and 5 s at 150/s average 12.5/s, but the last
    tick's rate is what will trip the limit: the gauge shows it."""
    store = connected_store()
    feed(store, T0, 55, 1)
    end = feed(store, T0 + 55, 5, 150)
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig()))["messages_per_s"]
    assert g.used == pytest.approx(150, rel=0.02) and g.level == "alert"
    check = by_name_check(quota_checks([g]))["quota.messages_per_s"]
    assert check.level == "alert" and check.value == pytest.approx(150, rel=0.02)
    # ten quiet seconds later the last tick is calm and the minute's average is what remains
    later = by_name(gauges(store.snapshot(now=end + 10), QuotaConfig()))["messages_per_s"]
    assert later.used == pytest.approx((55 + 750) / 60, rel=0.05) and later.level == "ok"


def by_name_check(checks):
    return {c.name: c for c in checks}


def test_rates_agree_when_the_ring_no_longer_holds_the_window():
    """A small ring: the minute comes from the 1-second buckets and the probes from the latency
    samples, the last tick still from the ring."""
    big, small = connected_store(), connected_store(raw_events=50)
    for store in (big, small):
        end = feed(store, T0, 60, 20)
        for i in range(60):
            store.ingest(Event(end - 60 + i + 0.5, "probe", "probe", "rtt", latency_ms=3.0))
    g_big = by_name(gauges(big.snapshot(now=end + 0.2), QuotaConfig()))["messages_per_s"]
    g_small = by_name(gauges(small.snapshot(now=end + 0.2), QuotaConfig()))["messages_per_s"]
    assert g_small.used == pytest.approx(g_big.used, rel=0.01)
    assert g_big.used == pytest.approx(22, rel=0.01)  # 20 broadcasts + 2 probe messages


def test_joins_presence_connections_channels_and_payloads():
    store = connected_store()
    for i in range(30):  # 30 joins in the minute (rejoins count: each one is a join)
        store.record_subscription(SubscriptionChange(T0 + i, f"ch{i % 3}", "JOINING"))
        store.record_subscription(SubscriptionChange(T0 + i + 0.1, f"ch{i % 3}", "SUBSCRIBED"))
    store.record_subscription(SubscriptionChange(T0 + 40, "gone", "CLOSED", "bye"))
    feed(store, T0, 60, 3, kind="presence", channel="ch0")
    store.ingest(Event(T0 + 59, "ch1", "broadcast", "big", size=210 * 1024))
    store.ingest(Event(T0 + 59.5, "ch2", "postgres_changes", "INSERT", size=2048))
    gs = by_name(gauges(store.snapshot(now=T0 + 60), QuotaConfig()))
    assert gs["joins_per_s"].own == pytest.approx(0.5)
    assert gs["presence_messages_per_s"].own == pytest.approx(3, rel=0.05)
    assert gs["presence_messages_per_s"].pct == pytest.approx(15, rel=0.05)
    assert gs["connections"].own == gs["connections"].used == 1
    assert gs["channels_per_connection"].own == 4  # three joined + the probe's; not the closed
    assert gs["broadcast_payload_kb"].used == 210 and gs["broadcast_payload_kb"].level == "warn"
    assert gs["postgres_payload_kb"].used == 2
    assert by_name_check(quota_checks(list(gs.values())))["quota.broadcast_payload_kb"].level == (
        "alert"  # 82 % of the limit, past alert_pct: the check alerts before the limit
    )
    store.record_status(StatusChange(T0 + 61, "reconnecting", "gone"))
    assert by_name(gauges(store.snapshot(now=T0 + 62), QuotaConfig()))["connections"].own == 0


def test_join_times_are_bounded():
    store = connected_store()
    for i in range(JOINS_KEPT + 100):
        store.record_subscription(SubscriptionChange(T0 + i / 1000, "c", "JOINING"))
    assert len(store.snapshot(now=T0 + 2).join_times) == JOINS_KEPT


# ---- the tenant's figures --------------------------------------------------------------------


def test_a_fresh_tenant_reading_is_used_and_never_below_the_monitors_own():
    store = connected_store()
    end = feed(store, T0, 30, 20)
    store.record_usage(usage(end - 1, messages_per_s=70.0, joins_per_s=3.0, connections=150))
    snap = store.snapshot(now=end)
    assert snap.tenant_usage is not None and snap.tenant_usage.connections == 150
    gs = by_name(gauges(snap, QuotaConfig()))
    assert gs["messages_per_s"].source == "tenant"
    assert gs["messages_per_s"].used == 70 and gs["messages_per_s"].own == pytest.approx(
        20, rel=0.05
    )
    assert gs["connections"].used == 150 and gs["connections"].own == 1
    assert gs["connections"].level == "ok"  # 75 %
    assert gs["joins_per_s"].used == 3
    # a reading that says less than the monitor alone sees is late: the monitor's own stands
    store.record_usage(usage(end, messages_per_s=5.0))
    assert by_name(gauges(store.snapshot(now=end), QuotaConfig()))["messages_per_s"].used == (
        pytest.approx(20, rel=0.05)
    )
    # a stale reading is no longer the tenant's present
    stale = by_name(gauges(store.snapshot(now=end + 11), QuotaConfig()))
    assert stale["connections"].used == 1 and stale["connections"].source == "monitor"


def test_windows_follow_the_servers_tick():
    """A sandbox ticking every 0.5 s averages 6 s: the last-tick rate is over 0.5 s."""
    store = connected_store()
    feed(store, T0, 10, 2)
    end = feed(store, T0 + 10, 0.5, 200)
    quick = usage(end - 0.2, messages_per_s=3.0)
    store.record_usage(TenantUsage(**{**_fields(quick), "tick_s": 0.5, "window_s": 6.0}))
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig()))["messages_per_s"]
    assert g.used == pytest.approx(200, rel=0.03) and g.level == "alert"
    store.record_usage(quick)  # Supabase's 5 s tick: the same burst is 10 % of 5 s
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig()))["messages_per_s"]
    assert g.used == pytest.approx((100 + 2 * 5) / 5, rel=0.05)


def _fields(u: TenantUsage) -> dict:
    return {f: getattr(u, f) for f in u.__slots__}


def test_levels_and_checks_follow_alert_pct():
    store = connected_store()
    end = feed(store, T0, 60, 85)
    cfg = QuotaConfig(alert_pct=90)
    g = by_name(gauges(store.snapshot(now=end), cfg))["messages_per_s"]
    assert g.level == "ok" and g.alert_pct == 90  # 85 % < 90 %
    check = by_name_check(quota_checks([g]))["quota.messages_per_s"]
    assert (check.level, check.threshold) == ("warn", 90)  # within the usual 20 % margin
    assert "85" in check.message and "100/s" in check.message
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig(alert_pct=80)))["messages_per_s"]
    assert g.level == "warn" and quota_checks([g])[0].level == "alert"
    g = by_name(gauges(store.snapshot(now=end), QuotaConfig(messages_per_s=50)))["messages_per_s"]
    assert g.level == "alert" and g.pct == pytest.approx(170, rel=0.03)


def test_report_carries_the_gauges_and_a_quota_breach_fails_the_check():
    store = connected_store()
    end = feed(store, T0, 60, 150)
    config = WatchConfig()
    body, ok = report(store.snapshot(now=end), config, "test", 60)
    parsed = json.loads(dumps(body))
    assert [g["name"] for g in parsed["quota"]] == list(QUOTA_NAMES)
    alerts = {a["name"]: a for a in parsed["alerts"]}
    assert alerts["quota.messages_per_s"]["level"] == "alert" and not ok and not parsed["ok"]
    assert "quota.connections" in alerts
    quiet = connected_store()
    feed(quiet, T0, 60, 1)
    _, ok = report(quiet.snapshot(now=T0 + 60), config, "test", 60)
    assert ok


# ---- the poller and the fan-out --------------------------------------------------------------

STATS = {
    "connections": 3,
    "refusals": {"too_many_messages": 2, "too_many_joins": 0},
    "rates": {
        "events_per_second": 120.5,
        "db_events_per_second": 0.0,
        "joins_per_second": 1.5,
        "presence_events_per_second": 0.25,
        "concurrent_users": 2,
    },
    "rate_counter": {"tick_s": 0.5, "buckets": 12},
    "limits": {"max_events_per_second": 100},
}


def test_stats_become_a_tenant_usage():
    u = parse_stats(STATS, 123.0)
    assert (u.at, u.messages_per_s, u.joins_per_s, u.presence_messages_per_s) == (
        123.0,
        120.5,
        1.5,
        0.25,
    )
    assert u.connections == 2 and u.refusals["too_many_messages"] == 2
    assert (u.tick_s, u.window_s) == (0.5, 6.0) and u.limits == {"max_events_per_second": 100}
    old = parse_stats({k: v for k, v in STATS.items() if k != "rate_counter"}, 1.0)
    assert (old.tick_s, old.window_s) == (5.0, 60.0)  # a server that does not say: Supabase's
    with pytest.raises(ValueError):
        parse_stats({"rates": {"events_per_second": 1}}, 1.0)
    with pytest.raises(ValueError):
        parse_stats([], 1.0)


async def test_poller_logs_a_failure_once_retries_and_recovers(caplog):
    answers = iter([500, 500, 500, 200, 200])

    async def stats(request: web.Request) -> web.Response:
        status = next(answers, 200)
        if status != 200:
            return web.Response(status=status, text="down")
        assert request.headers["apikey"] == "k"
        return web.json_response(STATS)

    app = web.Application()
    app.router.add_get("/sandbox/v1/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    got: list[TenantUsage] = []
    poller = UsagePoller(f"http://127.0.0.1:{port}", "k", got.append, interval_s=0.02)
    caplog.set_level(logging.INFO, logger="feeds.usage")
    poller.start()
    try:
        for _ in range(200):
            if len(got) >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await poller.stop()
        await runner.cleanup()
    assert len(got) >= 2 and got[0].messages_per_s == 120.5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "retrying" in warnings[0].getMessage()
    assert any("available again after 3" in r.getMessage() for r in caplog.records)


async def test_poller_survives_an_unreachable_server():
    got: list[TenantUsage] = []
    poller = UsagePoller("http://127.0.0.1:9", "k", got.append, interval_s=0.01, timeout_s=0.5)
    poller.start()
    await asyncio.sleep(0.2)
    assert poller._task is not None and not poller._task.done()  # still trying
    await poller.stop()
    assert poller.failures >= 2 and got == []


def test_monitor_hands_usage_to_the_sinks_that_take_it():
    class Plain:  # a sink from before record_usage: left alone
        def ingest(self, event): ...

    store = Store()
    monitor = Monitor(FeedConfig(), [Plain(), store])
    reading = usage(T0, messages_per_s=9.0)
    monitor._usage(reading)
    assert store.snapshot(now=T0).tenant_usage is reading
    assert Monitor(FeedConfig(), []).poll_usage is None  # polls only a sandbox it started


# ---- the view --------------------------------------------------------------------------------


def test_overview_shows_one_bar_per_gauge_under_the_tiles_and_keeps_nothing_per_tick():
    store = Store()
    data = SharedSnapshots(
        store=store, alerts=AlertsConfig(), quota=QuotaConfig(), channels=["room"]
    )
    now = time.time()
    store.record_status(StatusChange(now - 6, "connected"))
    feed(store, now - 5, 5, 150)
    overview = Overview(data=data)
    markup = overview.quotas.pane.object
    assert markup.count('data-quota="') == len(QUOTA_NAMES)
    assert 'data-quota="messages_per_s" data-level="alert"' in markup
    assert 'data-quota="connections" data-level="ok"' in markup
    assert "free plan" in markup and "monitor" in markup
    column = overview._panel.objects
    assert column.index(overview.quotas.pane) == column.index(overview.tiles) + 1
    for i in range(50):  # every tick a new snapshot: nothing accumulates in the view or the cache
        overview.refresh_slow(data.since(time.time() + i))
    assert len(data._derived) <= 8 and overview.quotas.pane.object.count('data-quota="') == 7
    assert quota_markup([], "free") == ""
    bare = Overview(data=SharedSnapshots(store=store, alerts=AlertsConfig()))
    assert bare.quotas.pane.object == ""  # no [quota] given: no bars


def test_the_probes_cost_is_shown_from_what_they_sent():
    """Issue 12 scope 5: the probes' rate is configurable, so its quota cost is shown: a round
    trip a second is two messages a second (the send and its echo)."""
    from feeds.events import Event, StatusChange
    from metrics.quota import probe_messages_per_s
    from metrics.store import Store

    store = Store()
    store.record_status(StatusChange(1000.0, "connected"))
    for i in range(60):
        store.ingest(Event(1000.5 + i, "monitor-probe-x", "probe", "rtt", latency_ms=12.0))
    snap = store.snapshot(now=1060.0)
    assert probe_messages_per_s(snap) == pytest.approx(2.0)
    assert probe_messages_per_s(store.snapshot(now=1000.0)) == 0.0
