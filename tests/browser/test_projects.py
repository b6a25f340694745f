"""Two projects in one server (issue 13, scope 5): two real sandboxes, one dashboard server
watching both from a watch.toml with two [[projects]], a different number of broadcasts sent to
each; every page, the wall (cycled and tiled) and /metrics must show each project's own numbers
and channels, never the other's.

One server for the module: the sends happen once, before the first page is opened, and every
test reads the same settled counts.
"""

from __future__ import annotations

import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from dashboard_process import DashboardServer
from sandbox_process import start_sandbox, wait_until

pytestmark = pytest.mark.browser

SENT = {"alpha": 7, "beta": 19}  # broadcasts sent to each project
CHANNEL = {"alpha": "alpha-room", "beta": "beta-room"}
CYCLE_S = 3
PAGES = ("overview", "incidents", "slots", "presence", "inspector")

# Every text of the page, shadow roots included (Panel renders each pane in one).
ALL_TEXT = """() => {
  const out = [];
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.shadowRoot) walk(el.shadowRoot);
    if (el.childNodes) el.childNodes.forEach((n) => { if (n.nodeType === 3) out.push(n.data); });
  });
  walk(document);
  return out.join(' ');
}"""


# The shadow host of the pane that holds the wall's status, found across shadow roots.
FIND_WALL_HEAD = """
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        if (el.shadowRoot.querySelector('[data-testid=wall-status]')) return el;
        const inner = find(el.shadowRoot);
        if (inner) return inner;
      }
    }
    return null;
  };
  const head = find(document);
"""
MARK_WALL_HEAD = f"() => {{ {FIND_WALL_HEAD} if (head) head.__rmMark = true; return !!head; }}"
WALL_HEAD_IS_MARKED = f"() => {{ {FIND_WALL_HEAD} return !!head && head.__rmMark === true; }}"


def watch_toml(sandboxes: dict, path) -> None:
    """Two projects by URL and key, each with its own channel; the shared probe settings at the
    top level are inherited by both, the dashboard settings are shared."""
    parts = [
        "[probes.broadcast]\ninterval_s = 1.0\n",
        f"[dashboard]\nstale_after_s = 4\nwall_cycle_s = {CYCLE_S}\n",
    ]
    for name, sb in sandboxes.items():
        parts.append(
            f'[[projects]]\nname = "{name}"\n'
            f'[projects.connection]\nurl = "{sb.url}"\nkey = "{sb.anon_key}"\n'
            f'[[projects.channels]]\ntopic = "{CHANNEL[name]}"\n'
        )
    path.write_text("\n".join(parts))


def broadcast(sb, topic: str, n: int) -> None:
    """`n` broadcasts through the project's REST endpoint, as a backend would send them."""
    for i in range(n):
        request = urllib.request.Request(
            f"{sb.url}/realtime/v1/api/broadcast/{topic}/events/tick",
            data=f'{{"n": {i}}}'.encode(),
            method="POST",
            headers={"apikey": sb.service_role_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.status == 202


def scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text: str, metric: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of `metric` in an exposition, as (labels, value)."""
    pattern = rf"^{metric}\{{([^}}]*)\}} (\S+)$"
    return [
        (dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))), float(m.group(2)))
        for m in re.finditer(pattern, text, re.M)
    ]


def events_total(text: str, project: str) -> dict[str, float]:
    """`realtime_monitor_events_total` of one project, by channel."""
    out: dict[str, float] = {}
    for labels, value in samples(text, "realtime_monitor_events_total"):
        if labels["project"] == project:
            out[labels["channel"]] = out.get(labels["channel"], 0) + value
    return out


@pytest.fixture(scope="module")
def sandboxes(two_projects):
    return two_projects.sandboxes


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("projects")
    sandboxes = {}
    server = None
    try:
        with ThreadPoolExecutor(len(SENT)) as pool:  # both at once: each takes seconds
            started = {
                n: pool.submit(start_sandbox, tmp / f"{n}-data", changes="stream") for n in SENT
            }
            for name, future in started.items():
                sandboxes[name] = future.result()
        watch_toml(sandboxes, tmp / "watch.toml")
        server = DashboardServer(tmp / "watch.toml", tmp / "panel.log")

        def subscribed() -> bool:
            found = samples(scrape(server.base), "realtime_monitor_channel_subscribed")
            joined = {(labels["project"], labels["channel"]) for labels, v in found if v == 1}
            return joined == {(n, CHANNEL[n]) for n in SENT}

        wait_until(subscribed, timeout=30, message="the projects' channels never joined")
        for name, n in SENT.items():
            broadcast(sandboxes[name], CHANNEL[name], n)
        wait_until(
            lambda: all(
                events_total(scrape(server.base), n).get(CHANNEL[n]) == SENT[n] for n in SENT
            ),
            timeout=15,
            message="the broadcasts never arrived",
        )
        server.config = tmp / "watch.toml"
        server.sandboxes = sandboxes
        yield server
    finally:
        if server is not None:
            server.stop()
        for sb in sandboxes.values():
            sb.stop()


def test_metrics_has_a_series_per_project_with_its_own_counts(two_projects):
    text = scrape(two_projects.base)
    for name, n in SENT.items():
        assert events_total(text, name) == {CHANNEL[name]: n}, (name, events_total(text, name))
        assert (({"project": name}, 1.0)) in samples(text, "realtime_monitor_connected")
    # one family header for both projects: the text format wants a name's samples together
    assert text.count("# TYPE realtime_monitor_events_total counter") == 1


def page_text(page) -> str:
    return page.evaluate(ALL_TEXT)


def shows(locator, text: str, prefix: bool = False, timeout: float = 10) -> None:
    """Wait until `locator` reads `text` (or starts with it)."""
    wait_until(
        lambda: locator.inner_text().startswith(text) if prefix else locator.inner_text() == text,
        timeout=timeout,
        message=f"never showed {text!r}",
    )


@pytest.mark.parametrize("name", list(SENT))
def test_every_page_shows_its_project_only(two_projects, open_page, name):
    other = next(n for n in SENT if n != name)
    p = open_page(f"{two_projects.base}/app?project={name}&page={PAGES[0]}")
    page = p.page  # one tab for the five pages: its cache keeps the scripts between them
    for key in PAGES:
        if key != PAGES[0]:
            page.goto(f"{two_projects.base}/app?project={name}&page={key}")
        page.locator("[data-testid=project-name]").wait_for(timeout=20_000)
        assert page.locator("[data-testid=project-name]").inner_text() == name
        assert name in page.title()
        chip = page.locator(f"[data-testid=channel-chip][data-channel={CHANNEL[name]}]")
        chip.first.wait_for(timeout=10_000)
        # the selector lists both projects, this one active, each link keeping the page
        for n in SENT:
            link = page.locator(f"[data-testid=project-{n}]")
            assert link.get_attribute("href").startswith(f"?project={n}&page={key}")
        assert "active" in page.locator(f"[data-testid=project-{name}]").get_attribute("class")
        if key == "overview":
            shows(page.locator("[data-testid=tile-rate] .sub"), f"{SENT[name]} total")
        if key == "inspector":  # the log holds this project's broadcasts, all of them
            status = page.locator("[data-testid=inspector-status]")
            status.wait_for(timeout=10_000)
            page.locator("select").nth(0).select_option(CHANNEL[name])
            shows(status, f"{SENT[name]} of ", prefix=True)
        text = page_text(page)
        assert CHANNEL[name] in text, (key, text[:500])
        assert CHANNEL[other] not in text, (key, "shows the other project's channel")
        assert p.errors == [], (key, p.errors)


def test_the_project_link_opens_the_other_project_on_the_same_page(two_projects, open_page):
    p = open_page(f"{two_projects.base}/app?project=alpha&page=presence")
    page = p.page
    page.locator("[data-testid=project-beta]").click()
    page.wait_for_url(re.compile(r"project=beta&page=presence"), timeout=10_000)
    page.locator("[data-testid=project-name]").wait_for(timeout=20_000)
    assert page.locator("[data-testid=project-name]").inner_text() == "beta"


def wall_total(page, within: str = "") -> str:
    return page.locator(f"{within} [data-testid=wall-rate] .sub".strip()).first.inner_text()


def test_the_wall_of_one_project(two_projects, open_page):
    p = open_page(f"{two_projects.base}/wall?project=beta", width=1920, height=1080)
    page = p.page
    page.locator("[data-testid=wall-project]").wait_for(timeout=20_000)
    assert "beta" in page.locator("[data-testid=wall-project]").inner_text()
    wait_until(lambda: wall_total(page) == f"{SENT['beta']} total", timeout=10)
    assert p.errors == []


def test_the_wall_cycles_through_the_projects_in_one_view(two_projects, open_page):
    p = open_page(f"{two_projects.base}/wall", width=1920, height=1080)
    page = p.page
    label = page.locator("[data-testid=wall-project]")
    label.wait_for(timeout=20_000)
    assert page.evaluate(MARK_WALL_HEAD)  # marks the pane (its shadow host) that shows the head
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 3 * CYCLE_S + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        name = label.inner_text().split("·")[-1].split("(")[0].strip()
        total = wall_total(page)
        # read the name twice: it and the number must belong to the same render
        again = label.inner_text().split("·")[-1].split("(")[0].strip()
        if name in SENT and total == f"{SENT[name]} total" and again == name:
            seen[name] = total
        time.sleep(0.2)
    assert set(seen) == set(SENT), seen
    # one wall view, its data swapped: the page never holds two walls, and the pane showing
    # the second project is the one that showed the first (a new view per turn would be a new
    # pane, and a wall left cycling for weeks would pile them up)
    assert page.locator("[data-testid=wall-status]").count() == 1
    assert page.evaluate(WALL_HEAD_IS_MARKED)
    assert p.errors == []


def test_the_wall_tiles_the_projects(two_projects, open_page):
    p = open_page(f"{two_projects.base}/wall?layout=tile", width=1920, height=1080)
    page = p.page
    for name, n in SENT.items():
        cell = f"[data-testid=wall-cell][data-project={name}]"
        page.locator(cell).wait_for(timeout=20_000)
        wait_until(lambda c=cell, n=n: wall_total(page, c) == f"{n} total", timeout=10)
        assert page.locator(f"{cell} [data-testid=wall-status]").inner_text() == "CONNECTED"
    scroll = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert scroll == [1920, 1080], scroll
    assert p.errors == []


def test_the_headless_check_reports_each_project(two_projects, sandboxes):
    """`check` on a config of several projects watches them all at once and reports each under
    its name (`--project NAME` picks one: tests/unit/test_projects_config.py)."""
    import json
    import subprocess
    import sys

    run = [sys.executable, "-m", "monitor", "check", "--config", str(two_projects.config)]
    done = subprocess.run([*run, "--for", "2s"], capture_output=True, text=True, timeout=60)
    body = json.loads(done.stdout)
    assert list(body["projects"]) == list(SENT), done.stderr
    for name, report in body["projects"].items():
        assert report["target"] == sandboxes[name].url
        assert list(report["summary"]["channels"]) == [CHANNEL[name]]
        assert report["summary"]["channels"][CHANNEL[name]]["state"] == "SUBSCRIBED"
    assert body["ok"] == all(r["ok"] for r in body["projects"].values())
    assert done.returncode == (0 if body["ok"] else 1)
