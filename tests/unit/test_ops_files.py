"""The shipped ops files (ops/prometheus, ops/grafana) are valid for the tools that read them:
promtool checks the scrape config and the alert rules and runs the rules' own unit tests
(ops/prometheus/alerts_test.yml); the Alertmanager route names only receivers it defines; the
Grafana dashboard is well-formed. That its queries name only metrics the monitor exposes, and
return data from a real Prometheus, is tests/integration/test_prometheus.py's part."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
GRAFANA = ROOT / "ops" / "grafana" / "realtime-monitor.json"


@pytest.fixture(scope="module")
def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip(
            "promtool not found: install Debian's `prometheus` package (make test installs it "
            "as root on Debian: scripts/ensure-system-deps.sh)"
        )
    return exe


def run(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], cwd=PROM, capture_output=True, text=True, timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    return out


def test_promtool_checks_the_alert_rules(promtool):
    assert "SUCCESS: 7 rules found" in run(promtool, "check", "rules", "alerts.yml")


def test_promtool_checks_the_scrape_config(promtool):
    out = run(promtool, "check", "config", "prometheus.yml")
    assert "prometheus.yml is valid prometheus config file syntax" in out
    assert "SUCCESS: 1 rule files found" in out


def test_each_alert_rule_fires_on_its_situation(promtool):
    assert "SUCCESS" in run(promtool, "test", "rules", "alerts_test.yml")


def test_every_alert_rule_is_exercised_by_the_rule_tests():
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    tested = {
        t["alertname"]
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert names == tested
    assert names >= {  # the list: latency SLO, uptime, quota, channel, incidents
        "RealtimeLatencySLO",
        "RealtimeUptimeLow",
        "RealtimeQuotaHigh",
        "RealtimeChannelNotSubscribed",
        "RealtimeOpenIncident",
    }


def test_the_alertmanager_route_names_only_defined_receivers_and_real_severities():
    config = yaml.safe_load((PROM / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    route = config["route"]
    used = {route["receiver"], *(r["receiver"] for r in route.get("routes", []))}
    assert used <= receivers
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    severities = {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]}
    matched = {
        m.split("=")[1].strip().strip('"')
        for r in route.get("routes", [])
        for m in r.get("matchers", [])
        if m.startswith("severity")
    }
    assert matched <= severities and "project" in route["group_by"]


def grafana_targets() -> list[tuple[str, dict]]:
    dash = json.loads(GRAFANA.read_text())
    return [(p["title"], t) for p in dash["panels"] for t in p.get("targets", [])]


def test_the_grafana_dashboard_is_well_formed():
    dash = json.loads(GRAFANA.read_text())
    panels = dash["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        refs = [t["refId"] for t in p["targets"]]
        assert p["targets"] and len(set(refs)) == len(refs), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["datasource"]["uid"] == "${datasource}"
    titles = {p["title"] for p in panels}  # the Overview's parts
    assert {"Status", "Uptime", "Messages/s", "Latency p95", "Subscriptions"} <= titles
    assert {
        "Message rate by kind",
        "Open incidents by class",
        "Quotas (share of the plan)",
    } <= titles
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"datasource", "project"}
