"""`feeds.tokens.TokenKeeper` against the sandbox's real GoTrue: a session whose access tokens live
6 seconds (`serve --jwt-exp 6`) is kept fresh by the refresh-token grant, each new token applied
before the last one expires; refusals reach `report` in GoTrue's own words.

The keeper is given the Realtime URL (`ws://.../realtime/v1`), as the Supervisor knows it, so the
project base it derives is exercised too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from itertools import pairwise

import httpx
import jwt as pyjwt
import pytest
from sandbox_process import start_sandbox

from feeds.settings import AuthConfig
from feeds.tokens import TokenKeeper, TokenRefreshError, expires_at

JWT_EXP = 6
RUN_S = 11  # two renewals (at ~4.8 s and ~9.6 s); the watch test below runs five
NOT_FOUND = "Invalid Refresh Token: Refresh Token Not Found"


@pytest.fixture(scope="module")
def short_sandbox(tmp_path_factory: pytest.TempPathFactory):
    sb = start_sandbox(tmp_path_factory.mktemp("short-tokens") / "data", "--jwt-exp", str(JWT_EXP))
    yield sb
    sb.stop()


@pytest.fixture
def auth(short_sandbox):
    with httpx.Client(
        base_url=short_sandbox.url + "/auth/v1",
        headers={"apikey": short_sandbox.anon_key},
        timeout=15,
    ) as client:
        yield client


def signup(auth: httpx.Client) -> dict:
    email = f"keeper-{uuid.uuid4().hex[:10]}@example.com"
    r = auth.post("/signup", json={"email": email, "password": "correct horse"})
    assert r.status_code == 200, r.text
    return r.json()


def keeper_for(sb, refresh_token: str, token: str = "", **cfg) -> TokenKeeper:
    config = AuthConfig(refresh="gotrue", refresh_token=refresh_token, **cfg)
    return TokenKeeper(config, url=sb.ws_url, key=sb.anon_key, token=token)


def user_of(auth: httpx.Client, token: str) -> httpx.Response:
    return auth.get("/user", headers={"Authorization": f"Bearer {token}"})


async def test_gotrue_session_is_kept_fresh_past_many_expiries(short_sandbox, auth):
    session = signup(auth)
    first = session["access_token"]
    claims = pyjwt.decode(
        first, short_sandbox.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    assert session["expires_in"] == JWT_EXP and claims["exp"] - claims["iat"] == JWT_EXP
    keeper = keeper_for(short_sandbox, session["refresh_token"], first)
    applied: list[tuple[str, float]] = []
    reports: list[str] = []

    async def apply(token: str) -> None:
        applied.append((token, time.time()))

    task = asyncio.create_task(keeper.run(apply, reports.append))
    await asyncio.sleep(RUN_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert reports == []
    tokens = [t for t, _ in applied]
    assert len(set(tokens)) == len(tokens) >= 2, applied
    previous = first
    for token, at in applied:
        before = expires_at(previous)
        assert expires_at(token) > before  # every token outlives the one it replaces
        assert at < before, f"applied {at - before:.2f} s after the previous token expired"
        # and not renewed in a hurry: 80% of a 6-s life (iat is whole seconds, so ~1 s slack)
        assert at >= before - JWT_EXP + 0.8 * JWT_EXP - 1.1
        new = pyjwt.decode(  # signed by the project; long expired by now
            token,
            short_sandbox.jwt_secret,
            algorithms=["HS256"],
            audience="authenticated",
            options={"verify_exp": False},
        )
        assert new["sub"] == session["user"]["id"]
        assert new["session_id"] == claims["session_id"]  # the same session, renewed
        previous = token
    assert keeper.token == tokens[-1]
    assert keeper.refresh_token != session["refresh_token"]  # rotated, and the newest kept
    # the point of it all: the first token is dead, the kept one still opens the user's door
    assert user_of(auth, first).status_code == 403
    r = user_of(auth, keeper.token)
    assert r.status_code == 200 and r.json()["id"] == session["user"]["id"]


async def test_a_revoked_refresh_token_is_reported_in_gotrues_words(short_sandbox, auth):
    session = signup(auth)
    r = auth.post("/logout", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert r.status_code == 204
    keeper = keeper_for(short_sandbox, session["refresh_token"], retry_s=0.2)
    applied: list[str] = []
    reports: list[str] = []

    async def apply(token: str) -> None:
        applied.append(token)

    reported_at: list[float] = []

    def report(message: str) -> None:
        reports.append(message)
        reported_at.append(time.monotonic())

    task = asyncio.create_task(keeper.run(apply, report))
    deadline = time.monotonic() + 15
    while len(reports) < 3:  # reported, then retried after retry_s and reported again
        assert time.monotonic() < deadline, reports
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert applied == [] and keeper.token == ""
    assert reports[0] == reports[1] == reports[2]
    assert min(b - a for a, b in pairwise(reported_at)) >= 0.2  # retry_s apart
    assert reports[0] == (
        f"token refresh refused by GoTrue: HTTP 400: {NOT_FOUND} (refresh_token_not_found)"
    )


@pytest.mark.parametrize(
    "refresh_token, key, words",
    [
        ("garbage-not-a-token", None, f"HTTP 400: {NOT_FOUND} (refresh_token_not_found)"),
        ("x" * 12, "not-the-projects-key", "HTTP 401: Invalid API key"),
    ],
)
async def test_refusals_raise_token_refresh_error(short_sandbox, refresh_token, key, words):
    keeper = keeper_for(short_sandbox, refresh_token, "old")
    if key is not None:
        keeper.key = key
    with pytest.raises(TokenRefreshError) as info:
        await keeper.fresh()
    assert info.value.message == f"token refresh refused by GoTrue: {words}"
    assert keeper.token == "old" and keeper.refresh_token == refresh_token


async def test_an_unreachable_gotrue_is_an_error_not_a_crash():
    keeper = TokenKeeper(
        AuthConfig(refresh="gotrue", refresh_token="rt"),
        url="http://127.0.0.1:9/realtime/v1",
        key="anon",
        token="old",
    )
    with pytest.raises(
        TokenRefreshError, match=r"could not reach http://127.0.0.1:9/auth/v1/token"
    ):
        await keeper.fresh()


async def test_a_private_watch_outlives_five_token_lifetimes_with_no_gap(short_sandbox, auth):
    """Issue 12: a watch with a short user token on a private channel keeps delivering past many
    expiries (2-minute tokens for 10 minutes, here 6-second tokens for 30 s): the Supervisor's
    keeper renews before each expiry and sends `access_token`, so the server never closes it."""
    import psycopg2

    from feeds.settings import FeedConfig
    from feeds.supervisor import Supervisor
    from metrics.store import Store

    topic = "refresh-room"
    conn = psycopg2.connect(short_sandbox.db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            f"""do $$ begin create policy "{topic} read" on realtime.messages for select
            to authenticated using ((select realtime.topic()) = '{topic}');
            exception when duplicate_object then null; end $$"""
        )
    conn.close()
    session = signup(auth)
    config = FeedConfig.model_validate(
        {
            "connection": {"access_token": session["access_token"]},
            "channels": [{"topic": topic, "private": True}],
            "auth": {"refresh": "gotrue", "refresh_token": session["refresh_token"]},
            "probes": {"broadcast": {"interval_s": 0.5}, "database": {"enabled": False}},
        }
    )
    store = Store()
    sup = Supervisor(
        config,
        url=short_sandbox.url,
        key=short_sandbox.anon_key,
        on_event=store.ingest,
        on_status=store.record_status,
        on_subscription=store.record_subscription,
        on_problem=store.record_problem,
    )
    run_s, every = 5 * JWT_EXP, 0.25
    sent: list[int] = []
    sup.start()
    try:
        deadline = time.monotonic() + 10
        while not any(r[1] == "SUBSCRIBED" for r in store.snapshot().channel_states):
            assert time.monotonic() < deadline, "the private channel never joined"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(timeout=10) as http:
            started = time.monotonic()
            while time.monotonic() - started < run_s:
                n = len(sent)
                r = await http.post(
                    short_sandbox.url + "/realtime/v1/api/broadcast",
                    headers={
                        "apikey": short_sandbox.service_role_key,
                        "Authorization": f"Bearer {short_sandbox.service_role_key}",
                    },
                    json={
                        "messages": [
                            {"topic": topic, "event": "tick", "payload": {"n": n}, "private": True}
                        ]
                    },
                )
                assert r.status_code == 202, r.text
                sent.append(n)
                await asyncio.sleep(started + len(sent) * every - time.monotonic())
        await asyncio.sleep(1.0)
        snap = store.snapshot()
    finally:
        await sup.stop()
    ticks = [
        (e.received_at, e.payload["payload"]["n"])
        for _, e in snap.events_after(0)
        if e.kind == "broadcast" and e.event == "tick"
    ]
    assert sorted(n for _, n in ticks) == sent  # every message, none twice
    gaps = [b - a for (a, _), (b, _) in pairwise(ticks)]
    assert max(gaps) < 4 * every, max(gaps)  # no dark spell at any expiry
    states = [s for s in snap.channel_states if s[0] == topic]
    assert [s[1] for s in states] == ["SUBSCRIBED"] and states[0][4] is None  # never errored
    assert [i.cls for i in snap.incidents] == []
    renewed = expires_at(sup.token or "")
    assert renewed is not None and renewed > expires_at(session["access_token"]) + 4 * JWT_EXP
