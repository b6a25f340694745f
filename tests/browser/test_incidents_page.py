"""The Incidents page in a real browser: a dashboard watching a sandbox with three channels that
each go wrong in their own way (a private channel the user may not read, a postgres_changes
filter on a column that does not exist, a channel the server crashes), each incident shown with
its class and channel within seconds of its cause; the crash closes after the rejoin. The server
then drains its sockets (a restart, closed once reconnected), the Overview's badge names the
class, and when the user's short-lived token expires the badge and the page say so for every
channel it closed."""

from __future__ import annotations

import time

import pytest
from conftest import DashboardServer
from incident_table import rows, wait_for

pytestmark = pytest.mark.browser

PRIVATE = "browser-inc-private"
ROWS = "browser-inc-rows"
CRASHY = "browser-inc-crash"
TABLE = "browser_inc_rows"
WITHIN_S = 5.0


TOKEN_TTL_S = 25  # outlives the crash and its rejoin; then expires with the page open


def watch_config(sb, path, token: str):
    path.write_text(
        f'[connection]\nurl = "{sb.url}"\nkey = "{sb.anon_key}"\naccess_token = "{token}"\n\n'
        f'[[channels]]\ntopic = "{PRIVATE}"\nprivate = true\n\n'
        f'[[channels]]\ntopic = "{ROWS}"\n[[channels.postgres_changes]]\n'
        f'table = "{TABLE}"\nfilter = "nosuch=eq.1"\n\n'
        f'[[channels]]\ntopic = "{CRASHY}"\n'
    )
    return path


@pytest.fixture
def dashboard_with_faults(sandbox, sql, mint, tmp_path):
    # a primary key, so the only thing wrong with the binding is its filter's column
    sql(f"create table if not exists public.{TABLE} (id int primary key, v text)")
    token = mint("authenticated", ttl=TOKEN_TTL_S, sub="30000000-0000-4000-8000-00000000b10c")
    expires = time.monotonic() + TOKEN_TTL_S
    config = watch_config(sandbox, tmp_path / "watch.toml", token)
    server = DashboardServer(config, tmp_path / "panel.log")
    started = time.monotonic()  # ingest (--setup) runs before the server answers
    server.token_expires = expires
    yield server, started
    server.stop()


def test_incidents_page_shows_each_class_where_it_happened(
    dashboard_with_faults, sandbox, open_page
):
    server, started = dashboard_with_faults
    p = open_page(server.base + "/app?page=incidents")
    page = p.page
    refusals = {
        ("policy.denied", PRIVATE): "open",
        ("subscription.invalid", ROWS): "open",
    }
    wait_for(
        lambda: refusals.items() <= rows(page).items(),
        WITHIN_S + 10,
        f"the refusals never showed: {rows(page)}",
    )
    # the joins were refused as ingest started, before the server answered; the page's own
    # load counts against the 5 s too
    shown_after = time.monotonic() - started
    assert shown_after < WITHIN_S, f"the refusals took {shown_after:.1f} s to show"
    # the crash: once the channel is joined, the fault hook, then the row within 5 s
    chip = page.locator(f"[data-testid=channel-chip][data-channel={CRASHY}]")
    wait_for(lambda: chip.get_attribute("data-state") == "SUBSCRIBED", 10, "never joined")
    sandbox.fault("phx_error", {"topic": CRASHY})
    caused = time.monotonic()
    seen: list[str] = []  # the crash row's states as the page showed them, in order

    def crash_state() -> str | None:
        state = rows(page).get(("server.crash", CRASHY))
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        return state

    wait_for(crash_state, WITHIN_S, f"no server.crash row within {WITHIN_S} s: {rows(page)}")
    wait_for(lambda: crash_state() == "closed", WITHIN_S, f"the crash never closed: {seen}")
    closed_after = time.monotonic() - caused
    assert seen == ["open", "closed"]  # shown while open (the rejoin waits 1 s), then closed
    assert rows(page).items() >= refusals.items()  # still open: nothing fixed them
    # a row opens to what happened and the fix
    denied = page.locator(".tabulator-row", has_text="policy.denied").first
    denied.locator(".tabulator-cell", has_text="►").first.click()  # Panel's expand column
    detail = page.locator("[data-testid=incident-detail]").first
    detail.wait_for(timeout=5_000)
    assert "realtime.messages" in detail.inner_text() and PRIVATE in detail.inner_text()
    # the server drains its sockets: a restart of the socket, closed once reconnected
    sandbox.fault("disconnect")
    drained = time.monotonic()
    wait_for(
        lambda: ("server.restart", "socket") in rows(page),
        WITHIN_S,
        f"no server.restart row within {WITHIN_S} s: {rows(page)}",
    )
    assert time.monotonic() - drained < WITHIN_S
    wait_for(
        lambda: rows(page).get(("server.restart", "socket")) == "closed", 10, "never reconnected"
    )
    # the Overview's badge names the class, in the alert colour
    page.goto(server.base + "/app?page=overview")
    badge = page.locator("[data-testid=status-badge]")
    wait_for(lambda: "policy.denied" in badge.inner_text(), 15, "the badge never named it")
    assert badge.get_attribute("data-health") == "alert"
    assert badge.get_attribute("data-status") == "connected"
    # the user's token expires: the server closes the channels it opened, the badge says so on
    # the Overview, and the Incidents page has an auth.expired row for each
    remaining = server.token_expires - time.monotonic()
    wait_for(
        lambda: "auth.expired" in badge.inner_text(),
        max(remaining, 0) + WITHIN_S,
        f"the badge never named auth.expired: {badge.inner_text()}",
    )
    if remaining > 0:  # on a slow machine the expiry may come before this step
        assert time.monotonic() - server.token_expires < WITHIN_S
    page.goto(server.base + "/app?page=incidents")
    expired = {("auth.expired", ROWS): "open", ("auth.expired", CRASHY): "open"}
    wait_for(lambda: expired.items() <= rows(page).items(), 10, f"rows: {rows(page)}")
    assert p.errors == []
    print(f"refusals shown {shown_after:.1f} s after start; crash closed in {closed_after:.1f} s")
