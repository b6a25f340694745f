"""Payloads are text on every page: what a project's clients send reaches the dashboard through the
real sandbox and the real monitor, and the browser shows it literally and runs none of it.

Anyone who can join a public channel with the anon key can broadcast any event name and payload
and track any presence meta, and any row the database publishes becomes a slot card. Each carries
`<script>window.__pwned=1</script>` (inert when set as innerHTML, but not as text) and
`<img src=x onerror=window.__pwned=1>` (runs when set as innerHTML): the Inspector (its table,
the clicked row's title and JSON), the Presence roster and the slot cards must show both as
text, and `window.__pwned` must stay undefined.
"""

from __future__ import annotations

import json
import re
import time

import psycopg2
import pytest
from dashboard_process import DashboardServer, watch_toml
from websockets.sync.client import connect

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMG = "<img src=x onerror=window.__pwned=1>"
TOPIC = "xss-room"


@pytest.fixture(scope="module")
def quiet_sandbox(tmp_path_factory):
    """No demo traffic: the hostile rows stay on the tables' first pages."""
    from sandbox_process import start_sandbox

    sb = start_sandbox(tmp_path_factory.mktemp("xss-sb") / "data", changes="stream")
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def xss_dashboard(quiet_sandbox, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xss-dash")
    d = DashboardServer(
        watch_toml(quiet_sandbox, tmp / "watch.toml", extra_topics=(TOPIC,)), tmp / "panel.log"
    )
    yield d
    d.stop()


def send(ws, topic: str, event: str, payload: dict, ref: str) -> dict:
    ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}))
    while True:
        frame = json.loads(ws.recv(timeout=10))
        if frame.get("ref") == ref:
            return frame


@pytest.fixture(scope="module")
def hostile_client(quiet_sandbox, xss_dashboard):
    """A client that broadcasts and tracks presence with hostile strings (after the monitor has
    joined), and a slot row whose key and group carry them; stays connected for the roster."""
    url = f"{quiet_sandbox.ws_url}/websocket?apikey={quiet_sandbox.anon_key}&vsn=1.0.0"
    time.sleep(3)  # the monitor's joins
    ws = connect(url)
    room = f"realtime:{TOPIC}"
    assert send(ws, room, "phx_join", {"config": {}}, "1")["payload"]["status"] == "ok"
    for i in range(3):
        payload = {"html": SCRIPT, "img": IMG, "i": i}
        ws.send(
            json.dumps(
                {
                    "topic": room,
                    "event": "broadcast",
                    "payload": {"type": "broadcast", "event": IMG, "payload": payload},
                    "ref": None,
                }
            )
        )
    presence = "realtime:demo-presence"
    config = {"config": {"presence": {"key": IMG, "enabled": True}}}
    assert send(ws, presence, "phx_join", config, "2")["payload"]["status"] == "ok"
    track = {"type": "presence", "event": "track", "payload": {"name": IMG, "note": SCRIPT}}
    assert send(ws, presence, "presence", track, "3")["payload"]["status"] == "ok"
    conn = psycopg2.connect(quiet_sandbox.db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            'insert into "group".live_slots (itinerary_id, group_id, presence_opt_in, '
            "presence_visible, presence_online) values (%s, %s, 3, 2, 1)",
            (SCRIPT, IMG),
        )
    conn.close()
    yield ws
    ws.close()


def heartbeat(ws) -> None:
    send(ws, "phoenix", "heartbeat", {}, f"hb{time.monotonic_ns()}")


def assert_not_run(page) -> None:
    page.wait_for_timeout(500)  # an <img> that was created has fired its onerror by now
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src=x]").count() == 0  # CSS locators pierce the shadow roots


def test_inspector_shows_hostile_events_as_text(xss_dashboard, hostile_client, open_page):
    p = open_page(xss_dashboard.base + "/app?page=inspector")
    page = p.page
    row = page.locator(".tabulator-row", has=page.locator("[tabulator-field=event]", has_text=IMG))
    row.first.wait_for(timeout=20_000)
    assert page.locator("[tabulator-field=event]", has_text=IMG).first.inner_text() == IMG
    # frozen first: with traffic flowing, new rows could move another event under the click
    page.get_by_role("button", name="Pause").click()
    page.wait_for_timeout(600)
    row.first.click()  # the detail: a title with the event name, and the payload's JSON
    title = page.get_by_text(re.compile(r"^#\d+ broadcast · "))
    title.first.wait_for(timeout=5_000)
    assert_not_run(page)
    assert IMG in title.first.inner_text()
    page.get_by_text(SCRIPT).first.wait_for(timeout=5_000)  # the payload, as JSON text
    page.locator("input[placeholder='text…']").fill("onerror")  # the search reads payloads
    page.wait_for_timeout(1500)
    assert_not_run(page)
    assert p.errors == []


def test_roster_shows_hostile_presence_as_text(xss_dashboard, hostile_client, open_page):
    heartbeat(hostile_client)
    p = open_page(xss_dashboard.base + "/app?page=presence")
    page = p.page
    key = page.locator(".tabulator-cell[tabulator-field=key]", has_text=IMG)
    key.first.wait_for(timeout=20_000)
    assert_not_run(page)
    assert key.first.inner_text() == IMG
    meta = page.locator(".tabulator-cell[tabulator-field=meta]", has_text="onerror").first
    assert SCRIPT.replace("/", "\\/") in meta.inner_text() or SCRIPT in meta.inner_text()
    page.get_by_text(re.compile(re.escape(IMG))).first.wait_for(timeout=5_000)  # the log
    assert_not_run(page)
    assert p.errors == []


def test_slot_cards_show_hostile_rows_as_text(xss_dashboard, hostile_client, open_page):
    p = open_page(xss_dashboard.base + "/app?page=slots")
    page = p.page
    card = page.locator("[data-testid=slot-card]", has_text=SCRIPT)
    card.first.wait_for(timeout=20_000)
    assert_not_run(page)
    assert card.first.get_attribute("data-key") == SCRIPT
    assert IMG in card.first.inner_text()
    counters = card.first.locator("[data-testid=slot-counter]").all_inner_texts()
    assert counters == ["3", "2", "1"]
    assert_not_run(page)
    assert p.errors == []
