"""Protected pages (issue 13, scope 6): one dashboard server with Panel's basic auth, a cookie
secret and a metrics token, watching a sandbox through a config full of distinctive secrets.

* Without the login every page (each of `dashboards.app.PAGES`, the wall, the index) is refused,
  and so is `/metrics`, unless it carries the metrics token; `/liveness` stays open.
* With the login (Chromium filling Panel's own form) every page loads.
* No secret reaches a browser: every page's HTML and every websocket frame, both ways, are
  searched for the keys, the tokens, the database password, a webhook's URL and header and the
  login's own secrets (any 32 characters of one), and their base64 at every alignment.
* None of them is in the server's argv either, which any user of the machine can read.
"""

from __future__ import annotations

import base64
import http.cookiejar
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
import pytest
from dashboard_process import DashboardServer

from dashboards.app import PAGES

pytestmark = pytest.mark.browser

# capitals on purpose: Panel lower-cases PANEL_BASIC_AUTH, which `monitor.auth` works around
PASSWORD = "Basic-PW-" + secrets.token_hex(6).upper()
COOKIE_SECRET = "Cookie-Secret-" + secrets.token_hex(12)
METRICS_TOKEN = "Metrics-Token-" + secrets.token_hex(12)
DB_PASSWORD = "Db-Password-" + secrets.token_hex(8)
WEBHOOK_PATH = "Webhook-Path-" + secrets.token_hex(10)
WEBHOOK_HEADER = "Webhook-Header-" + secrets.token_hex(10)
PATHS = [
    "/",
    "/app",
    *[f"/app?page={page}" for page in PAGES],
    "/app?view=wall",
    "/wall",
]
LOADED = [*[f"/app?page={page}" for page in PAGES], "/wall"]  # ?view=wall is the same wall
# page.content() serializes the light DOM only; Panel renders its components in shadow roots
DEEP_HTML = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
    }
  };
  walk(document);
  return parts.join("\\n");
}"""


def with_password(db_url: str, password: str) -> str:
    """The sandbox's database URL with a password in it (its socket trusts, so it still works)."""
    return re.sub(r"^(\w+://[^:@/]+)(:[^@]*)?@", rf"\1:{password}@", db_url, count=1)


def fragments(secret: str, size: int = 24, step: int = 8) -> set[str]:
    """Pieces of `secret` a partial leak would show: every run of 32 characters or more holds
    one of them. A JWT's first segment is left out: it is the same `{"alg":..}` in every token,
    including ones a page may rightly carry."""
    body = secret.split(".", 1)[1] if secret.count(".") == 2 else secret
    if len(body) <= size:
        return {body}
    return {body[i : i + size] for i in range(0, len(body) - size, step)} | {body[-size:]}


def base64_forms(secret: str) -> set[str]:
    """What `secret` looks like inside any base64 (standard or URL-safe) text, at each of the
    three alignments: the characters that depend on the secret's bytes alone."""
    forms = set()
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + secret.encode()).decode().rstrip("=")
            forms.add(text[4 if pad else 0 : -3])
    return forms


class Protected(DashboardServer):
    def __init__(self, sandbox, tmp: Path) -> None:
        now = int(time.time())
        self.access_token = jwt.encode(
            {
                "role": "authenticated",
                "aud": "authenticated",
                "sub": "6f1c1d1e-0000-4000-8000-00000000a0b1",
                "iat": now,
                "exp": now + 3600,
            },
            sandbox.jwt_secret,
            algorithm="HS256",
        )
        self.db_url = with_password(sandbox.db_url, DB_PASSWORD)
        self.sandbox_host = urllib.parse.urlsplit(sandbox.url).netloc  # shown on every page
        config = tmp / "watch.toml"
        config.write_text(
            f'[connection]\nurl = "{sandbox.url}"\nkey = "{sandbox.anon_key}"\n'
            f'access_token = "{self.access_token}"\n'
            f'[auth]\nrefresh = "service_role"\nservice_role_key = "{sandbox.service_role_key}"\n'
            '[[channels]]\ntopic = "demo"\n'
            '[[channels]]\ntopic = "demo-presence"\npresence = true\n'
            'presence_key = "realtime-monitor"\n'
            '[[channels]]\ntopic = "demo-rows"\n[[channels.postgres_changes]]\n'
            'table = "demo_items"\n'
            f'[probes.database]\ndb_url = "{self.db_url}"\n'
            # a receiver nobody listens on: a failing delivery is logged, never shown
            f'[[notify.webhooks]]\nurl = "http://127.0.0.1:9/hooks/{WEBHOOK_PATH}"\n'
            f'headers = {{ Authorization = "Bearer {WEBHOOK_HEADER}" }}\n'
        )
        self.secrets = {
            "project key": sandbox.anon_key,
            "access token": self.access_token,
            "service role key": sandbox.service_role_key,
            "JWT secret": sandbox.jwt_secret,
            "database password": DB_PASSWORD,
            "metrics token": METRICS_TOKEN,
            "webhook URL": WEBHOOK_PATH,
            "webhook header": WEBHOOK_HEADER,
            "basic-auth password": PASSWORD,
            "cookie secret": COOKIE_SECRET,
        }
        super().__init__(
            config,
            tmp / "panel.log",
            # the password and the token from the environment, the cookie secret as a flag
            serve_args=("--cookie-secret", COOKIE_SECRET),
            env={
                "REALTIME_MONITOR_BASIC_AUTH": PASSWORD,
                "REALTIME_MONITOR_METRICS_TOKEN": METRICS_TOKEN,
            },
        )


@pytest.fixture(scope="module")
def server(demo_sandbox, tmp_path_factory):
    s = Protected(demo_sandbox, tmp_path_factory.mktemp("auth"))
    yield s
    s.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict[str, str] | None = None, opener=None):
    """(status, headers, body) without following redirects."""
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=20) as r:
            return r.status, r.headers, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode(errors="replace")


def test_without_the_login_every_page_and_metrics_is_refused(server):
    for path in PATHS:
        status, headers, body = fetch(server.base + path)
        assert status == 302, (path, status)
        to = urllib.parse.urljoin(server.base + path, headers["Location"])
        assert urllib.parse.urlsplit(to).path == "/login", (path, to)
        assert "bokeh" not in body.lower(), path
    status, headers, body = fetch(server.base + "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "realtime_monitor_" not in body
    status, _, body = fetch(server.base + "/liveness")
    assert status == 200
    # nor does a websocket open without the login (Panel answers the handshake with 403)
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(server.base.replace("http", "ws") + "/app/ws", open_timeout=10).close()
    assert refused.value.response.status_code == 403


def test_metrics_takes_the_bearer_token_or_the_login(server):
    good = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    status, _, body = fetch(server.base + "/metrics", good)
    assert status == 200 and "realtime_monitor_events_total" in body
    for wrong in (f"Bearer {METRICS_TOKEN}x", "Bearer ", f"Basic {METRICS_TOKEN}"):
        status, _, body = fetch(server.base + "/metrics", {"Authorization": wrong})
        assert status == 401 and "realtime_monitor_" not in body, wrong
    # Panel's login form, as a browser posts it: the cookie it sets opens /metrics too
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "ops", "password": PASSWORD.lower()}).encode()
    opener_status = fetch_post(opener, server.base + "/login", form)
    assert opener_status == 302 and not any(c.name == "user" for c in jar), "lower-cased login"
    form = urllib.parse.urlencode({"username": "ops", "password": PASSWORD}).encode()
    assert fetch_post(opener, server.base + "/login", form) == 302
    assert any(c.name == "user" for c in jar)
    status, _, body = fetch(server.base + "/metrics", opener=opener)
    assert status == 200 and "realtime_monitor_" in body
    # a wrong token is refused even with the login: the header is judged on its own
    status, _, _ = fetch(server.base + "/metrics", {"Authorization": "Bearer nope"}, opener)
    assert status == 401


def fetch_post(opener, url: str, data: bytes) -> int:
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def visited(server, browser):
    """Log in with Chromium through Panel's form, then open every page, keeping each page's
    HTML and every websocket frame sent or received."""
    frames: list[str | bytes] = []
    html: dict[str, str] = {}
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()

    def on_socket(ws) -> None:
        ws.on("framereceived", lambda payload: frames.append(payload))
        ws.on("framesent", lambda payload: frames.append(payload))

    page.on("websocket", on_socket)
    page.goto(server.base + LOADED[0])
    assert urllib.parse.urlsplit(page.url).path == "/login"
    html["/login"] = page.content()
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    for path in LOADED:
        if path != LOADED[0]:
            page.goto(server.base + path)
        marker = "[data-testid=wall-status]" if "wall" in path else "[data-testid=nav-overview]"
        page.locator(marker).wait_for(timeout=20_000)
        page.wait_for_timeout(1000)  # a few update ticks, each a websocket frame
        html[path] = page.content() + page.evaluate(DEEP_HTML)
    # the nav says who is signed in, and its link is Panel's logout
    page.goto(server.base + LOADED[0])
    signed_in = page.locator("[data-testid=signed-in]").text_content(timeout=20_000)
    page.locator("[data-testid=logout]").click()
    page.wait_for_url("**/logout")
    html["/logout"] = page.content()
    page.goto(server.base + LOADED[0])
    after_logout = urllib.parse.urlsplit(page.url).path
    context.close()
    return html, frames, signed_in, after_logout


def test_with_the_login_every_page_loads(visited):
    html, frames, signed_in, after_logout = visited
    for path in LOADED:
        assert "data-testid" in html[path], path
    assert len(frames) > 20, "the pages' websockets carried no updates"
    assert signed_in.lower() == "signed in as ops"
    assert after_logout == "/login", "logging out did not end the login"


def test_no_secret_reaches_a_page_or_a_websocket_frame(server, visited):
    html, frames, _, _ = visited
    texts = [(f"HTML of {path}", text) for path, text in html.items()]
    texts += [
        (f"websocket frame {i}", f if isinstance(f, str) else f.decode("latin-1"))
        for i, f in enumerate(frames)
    ]
    leaks = []
    for name, secret in server.secrets.items():
        for form in {*fragments(secret), *base64_forms(secret)}:
            leaks += [f"{name} ({form}) in {where}" for where, text in texts if form in text]
    assert leaks == []
    # the search itself works: the scan finds what the pages do show (the sandbox's URL)
    assert any(server.sandbox_host in text for where, text in texts if where.startswith("HTML"))
    assert any(server.sandbox_host in text for where, text in texts if where.startswith("web"))


def test_no_secret_in_the_servers_command_line(server):
    argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode(errors="replace")
    assert "auth_launch" in argv  # the panel server itself, not our launcher
    assert [name for name, s in server.secrets.items() if s in argv] == []
