"""Alert rules: the CLI's exit code and the tiles' colours come from these."""

import math
from types import SimpleNamespace

from metrics.alerts import breaches, evaluate
from metrics.settings import AlertsConfig


def snap(
    uptime=1.0, commit_p95=10.0, rtt_p95=5.0, reconnects=0, age=1.0, rate=5.0, down=(), opened=()
):
    return SimpleNamespace(
        uptime=uptime,
        latency={"commit": {"p95": commit_p95}, "probe_rtt": {"p95": rtt_p95}},
        reconnects=reconnects,
        message_age_s=age,
        rate_total=rate,
        channels_down=lambda longer_than: [d for d in down if d[1] < 100 - longer_than],
        open_incidents=opened,
    )


def levels(checks):
    return {c.name: c.level for c in checks}


def test_healthy_is_all_ok():
    assert set(levels(evaluate(snap(), AlertsConfig())).values()) == {"ok"}


def test_each_threshold_alerts_and_warns_before():
    cfg = AlertsConfig(message_age_s_max=30, rate_min=1)
    got = levels(
        evaluate(
            snap(uptime=0.98, commit_p95=1200, rtt_p95=450, reconnects=11, age=31, rate=0.5), cfg
        )
    )
    assert got == {
        "uptime": "alert",
        "latency_p95_ms": "alert",
        "probe_rtt_p95_ms": "warn",
        "reconnects": "alert",
        "message_age_s": "alert",
        "rate": "alert",
        "channels_down": "ok",
        "incidents": "ok",
    }
    assert levels(evaluate(snap(uptime=0.993), cfg))["uptime"] == "warn"
    assert levels(evaluate(snap(uptime=0.996), cfg))["uptime"] == "ok"


def test_no_data_is_not_an_alert():
    checks = evaluate(snap(uptime=math.nan, commit_p95=math.nan, rtt_p95=math.nan), AlertsConfig())
    assert levels(checks)["latency_p95_ms"] == "nodata" and not breaches(checks)
    assert checks[0].to_dict()["value"] is None


def test_rules_set_to_zero_are_off():
    names = levels(evaluate(snap(), AlertsConfig(latency_p95_ms_max=0)))
    assert "latency_p95_ms" not in names and "rate" not in names and "message_age_s" not in names


def test_a_healthy_supabase_latency_is_not_an_alert_by_default():
    """Supabase polls its replication slot (100 ms busy, 500 ms idle), so ~500 ms p95 is normal."""
    assert levels(evaluate(snap(commit_p95=520), AlertsConfig()))["latency_p95_ms"] == "ok"


def test_a_channel_down_past_the_limit_and_an_open_incident_alert_by_default():
    """A connected socket whose channels are refused is not healthy (issue 12, scope 7)."""
    down = snap(down=[("room", 60.0)])  # down since 60 s, "now" is 100 s
    assert levels(evaluate(down, AlertsConfig()))["channels_down"] == "alert"
    assert levels(evaluate(down, AlertsConfig(channel_down_s_max=45)))["channels_down"] == "ok"
    assert "channels_down" not in levels(evaluate(down, AlertsConfig(channel_down_s_max=0)))
    inc = SimpleNamespace(cls="auth.expired", where="room")
    checks = evaluate(snap(opened=(inc,)), AlertsConfig())
    (alert,) = breaches(checks)
    assert alert.name == "incidents" and "auth.expired on room" in alert.message
