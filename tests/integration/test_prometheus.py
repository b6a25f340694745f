"""A real Prometheus (Debian's) scrapes a running monitor for 30 s of sandbox traffic.

One run for the module: a sandbox that polls its changes as Supabase does (100-600 ms), paced
broadcasts and row inserts of known rates and a presence member; `python -m monitor check --for
31s --metrics-port N` (its window 30 s, `[buffers] window_s`), and the dashboard server
(`python -m monitor serve`) watching the same channels; Prometheus on a free port scraping both
every second with a generated config. Then Prometheus's HTTP API is asked, at the moment the
check took its report, what the monitor's own report says for the same 30 s:

* `rate(realtime_monitor_events_total[30s])` against the report's message rate, and
* `histogram_quantile(0.95, ...commit_latency_seconds_bucket...)` against the store's exact p95,

each within 10 %. The same run checks the shipped ops files against the live exposition: every
metric the Grafana dashboard and the alert rules name is one the monitor really exposes, and
each dashboard query returns data from this Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from dashboard_process import free_port
from sandbox_process import SandboxProcess, start_sandbox, wait_until
from wire import Wire

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "ops" / "grafana" / "realtime-monitor.json"
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
RUN_S = 31  # the check's --for: its 30 s window starts after the joins
WINDOW = "30s"
BROADCASTS_PER_S = 40.0
INSERTS_PER_S = 10.0


def watch_toml(sb: SandboxProcess, path: Path) -> Path:
    path.write_text(f"""
[connection]
url = "{sb.url}"
key = "{sb.anon_key}"

[[channels]]
topic = "prom-rate"
[[channels]]
topic = "prom-rows"
[[channels.postgres_changes]]
table = "prom_rows"
[[channels]]
topic = "prom-presence"
presence = true
presence_key = "monitor"

[probes.broadcast]
interval_s = 0.5
[probes.database]
db_url = "{sb.db_url}"

[buffers]
window_s = 30
""")
    return path


def prometheus_yml(path: Path, targets: dict[str, int]) -> Path:
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        for job, port in targets.items()
    )
    path.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n" + jobs
    )
    return path


async def traffic(sb: SandboxProcess, db_url: str, stop: threading.Event) -> dict[str, int]:
    """Broadcasts and inserts on absolute schedules, and one presence member, until `stop`."""
    import psycopg2

    db = psycopg2.connect(db_url)
    db.autocommit = True
    cur = db.cursor()
    member = await Wire.open(sb.url, sb.anon_key)
    jr, _ = await member.join("prom-presence", {"presence": {"key": "u1", "enabled": True}})
    await member.send(
        "realtime:prom-presence", "presence", {"event": "track", "payload": {}}, join_ref=jr
    )
    sent = {"broadcasts": 0, "inserts": 0}
    headers = {"apikey": sb.service_role_key}
    url = f"{sb.url}/realtime/v1/api/broadcast/prom-rate/events/tick"

    async def broadcasts(session: aiohttp.ClientSession) -> None:
        start = time.monotonic()
        while not stop.is_set():
            async with session.post(url, json={"n": sent["broadcasts"]}, headers=headers) as r:
                assert r.status == 202
            sent["broadcasts"] += 1
            await asyncio.sleep(
                max(0.0, start + sent["broadcasts"] / BROADCASTS_PER_S - time.monotonic())
            )

    async def inserts() -> None:
        start = time.monotonic()
        while not stop.is_set():
            cur.execute("insert into public.prom_rows (v) values (%s)", (sent["inserts"],))
            sent["inserts"] += 1
            await asyncio.sleep(
                max(0.0, start + sent["inserts"] / INSERTS_PER_S - time.monotonic())
            )

    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(broadcasts(session), inserts())
    finally:
        await member.close()
        db.close()
    return sent


@dataclass
class Run:
    report: dict
    end: float  # when the check took its report (epoch s)
    exposition: str  # the check's /metrics, read mid-run
    prometheus: str  # Prometheus's base URL

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        params = urllib.parse.urlencode({"query": promql, "time": at or self.end})
        with urllib.request.urlopen(f"{self.prometheus}/api/v1/query?{params}", timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, promql: str) -> float:
        result = self.query(promql)
        assert len(result) == 1, f"{promql}: {result}"
        return float(result[0]["value"][1])


def _get(url: str, timeout: float = 2) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except OSError:
        return None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is required: make test installs Debian's `prometheus` package")
    tmp = tmp_path_factory.mktemp("prometheus")
    check_port, dash_port, prom_port = free_port(), free_port(), free_port()
    config = prometheus_yml(tmp / "prometheus.yml", {"check": check_port, "dashboard": dash_port})
    prom_log = open(tmp / "prometheus.log", "w")  # noqa: SIM115 - closed below
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--log.level=warn",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{prom_port}"
    procs: list[subprocess.Popen] = [prom]
    stop = threading.Event()
    sb = start_sandbox(tmp / "data", changes="poll")
    try:
        import psycopg2

        with psycopg2.connect(sb.db_url) as db, db.cursor() as cur:
            db.autocommit = True
            cur.execute("create table public.prom_rows (id serial primary key, v int)")
            cur.execute("alter publication supabase_realtime add table public.prom_rows")
        cfg = watch_toml(sb, tmp / "watch.toml")
        wait_until(lambda: _get(base + "/-/ready"), 30, message="Prometheus did not start")
        dash_log = open(tmp / "dashboard.log", "w")  # noqa: SIM115 - closed below
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "monitor", "serve", "--port", str(dash_port)]
                + ["--config", str(cfg)],
                cwd=ROOT,
                stdout=dash_log,
                stderr=subprocess.STDOUT,
            )
        )
        sent: dict[str, int] = {}
        feeder = threading.Thread(
            target=lambda: sent.update(asyncio.run(traffic(sb, sb.db_url, stop))), daemon=True
        )
        feeder.start()
        out = tmp / "check.json"
        check = subprocess.Popen(
            [sys.executable, "-m", "monitor", "check", "--config", str(cfg)]
            + ["--for", f"{RUN_S}s", "--metrics-port", str(check_port), "--json-out", str(out)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(check)
        # the live exposition, once every family has samples (probes, commits, presence)
        seen = {"text": ""}

        def complete() -> str | None:
            seen["text"] = (_get(f"http://127.0.0.1:{check_port}/metrics") or b"").decode()
            wanted = ("commit_latency_seconds_count", "probe_db_latency_seconds_count")
            wanted += ("probe_rtt_seconds_count", "presence_members{")
            text = seen["text"]
            return text if all(f"realtime_monitor_{w}" in text for w in wanted) else None

        try:
            exposition = wait_until(complete, 20, 0.5)
        except AssertionError:
            pytest.fail("the check's /metrics never showed every family:\n" + seen["text"])
        _, err = check.communicate(timeout=RUN_S + 60)
        assert check.returncode == 0, err.decode()
        report = json.loads(out.read_text())
        yield Run(report, report["summary"]["now"], exposition, base)
    finally:
        stop.set()
        for proc in reversed(procs):
            _stop(proc)
        sb.stop()
        prom_log.close()


def within(got: float, want: float, rel: float = 0.10) -> bool:
    return abs(got - want) <= rel * abs(want)


def test_prometheus_rate_of_events_agrees_with_the_monitor(run):
    summary = run.report["summary"]
    assert summary["effective_window_s"] == 30
    mine = summary["rates"]["by_channel"]["prom-rate"]
    assert within(mine, BROADCASTS_PER_S, 0.05), mine
    theirs = run.scalar(
        f'sum(rate(realtime_monitor_events_total{{job="check",channel="prom-rate"}}[{WINDOW}]))'
    )
    assert within(theirs, mine), f"Prometheus {theirs:.2f}/s, the monitor {mine:.2f}/s"
    total = run.scalar(f'sum(rate(realtime_monitor_events_total{{job="check"}}[{WINDOW}]))')
    assert within(total, summary["rates"]["total"]), (total, summary["rates"]["total"])


def test_prometheus_latency_p95_agrees_with_the_store(run):
    commit = run.report["summary"]["latency_ms"]["commit"]
    assert commit["exact"] and commit["count"] >= 0.9 * INSERTS_PER_S * 30, commit
    theirs = run.scalar(
        "histogram_quantile(0.95, sum by (le) "
        f'(rate(realtime_monitor_commit_latency_seconds_bucket{{job="check"}}[{WINDOW}])))'
    )
    mine = commit["p95"] / 1000
    assert 0.05 < mine < 1.0, mine  # polled as Supabase does: in the histogram's fine range
    assert within(theirs, mine), (
        f"Prometheus p95 {theirs * 1000:.0f} ms, the store's {mine * 1000:.0f} ms"
    )
    count = run.scalar(
        f'sum(increase(realtime_monitor_commit_latency_seconds_count{{job="check"}}[{WINDOW}]))'
    )
    assert within(count, commit["count"]), (count, commit["count"])


def test_the_dashboard_server_serves_the_same_metrics(run):
    assert run.scalar('up{job="dashboard"}') == 1
    assert run.scalar('realtime_monitor_connected{job="dashboard"}') == 1
    assert (
        run.scalar('realtime_monitor_channel_subscribed{job="dashboard",channel="prom-rows"}') == 1
    )
    # the last 10 s: the dashboard server starts alongside the check and may join later
    rate = run.scalar(
        'sum(rate(realtime_monitor_events_total{job="dashboard",channel="prom-rate"}[10s]))'
    )
    assert within(rate, BROADCASTS_PER_S), rate
    projects = {r["metric"]["project"] for r in run.query("realtime_monitor_connected")}
    assert projects == {"127.0.0.1"}  # the watched project's host


# ---- the shipped ops files against the live exposition --------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (in braces or grouping lists), durations or strings."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set(re.findall(r"(?<![\w$.])[a-zA-Z_:][\w:]*\b(?!\s*\()", e))
    return {n for n in names if n.lower() not in KEYWORDS}


def test_the_name_reader_sees_what_promql_reads():
    expr = (
        'histogram_quantile(0.95, sum by (project, le) (rate(a_bucket{project=~"$project",'
        'x="rate(no)"}[$__rate_interval]))) > 1 and on (project) b_total offset 5m or up == 0'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up"}


def exposed(run: Run) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in run.exposition.splitlines()
        if line and not line.startswith("#")
    }


def grafana_exprs() -> list[tuple[str, str]]:
    dash = json.loads(GRAFANA.read_text())
    out = [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"${var['name']}", var["query"]["query"]))
    return out


def test_grafana_queries_name_only_metrics_the_monitor_exposes(run):
    names = exposed(run)
    assert "realtime_monitor_commit_latency_seconds_bucket" in names
    for title, expr in grafana_exprs():
        expr = re.sub(r"label_values\((\w+),\s*\w+\)", r"\1", expr)
        used = metric_names(expr)
        assert used, f"{title}: no metric in {expr!r}"
        assert used <= names, f"{title}: {sorted(used - names)} not in the exposition"


def test_grafana_queries_return_data_from_prometheus(run):
    for title, expr in grafana_exprs():
        if expr.startswith("label_values("):
            continue
        promql = (
            expr.replace("$__rate_interval", "5s")
            .replace("$__range", WINDOW)
            .replace("$project", ".+")
        )
        assert run.query(promql), f"{title}: no data for {promql}"


def test_alert_rules_name_only_metrics_the_monitor_exposes(run):
    names = exposed(run) | {"up"}  # `up` is Prometheus's own
    rules = yaml.safe_load(ALERTS.read_text())
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        used = metric_names(rule["expr"])
        assert used and used <= names, f"{rule['alert']}: {sorted(used - names)}"
        run.query(rule["expr"])  # evaluates (an alert that is not firing returns nothing)
