"""TripSage (seed 002) end to end: private topics `user:{sub}` and `session:{uuid}` authorised by
RLS on `realtime.messages` (030_tripsage.sql), the seed's client code under Node with supabase-js
(`tests/js/seed_tripsage.mjs`), server-originated events from Python (realtime-py receiving
`realtime.send` and the REST broadcast API), the `tripsage` demo scenario, and its profile.

Sessions and users made here have fresh ids, so the demo's rows never interfere.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from test_seed_common import (
    assert_all_subscribed,
    channel_kinds,
    check_profile,
    new_id,
    profile_env,
    run_as,
    run_flow,
    wait_for,
)
from wire import Wire

from sandbox.scenarios import tripsage

SCRIPT = "seed_tripsage.mjs"
PRIVATE = {
    "broadcast": {"ack": False, "self": False},
    "presence": {"key": "", "enabled": False},
    "private": True,
}


def refusal(topic: str) -> dict[str, Any]:
    return {
        "status": "error",
        "response": {
            "reason": f"Unauthorized: You do not have permissions to read from this Channel "
            f"topic: {topic}"
        },
    }


def make_session(sql, *collaborators: str) -> tuple[str, str]:
    """A fresh chat session owned by a fresh user; returns (session id, owner id)."""
    session, owner = new_id(), new_id()
    sql(
        "insert into public.chat_sessions (id, user_id, title) values (%s, %s, 'Test trip')",
        session,
        owner,
    )
    for user in collaborators:
        sql(
            "insert into public.chat_session_collaborators (session_id, user_id) values (%s, %s)",
            session,
            user,
        )
    return session, owner


def broadcast_payload(frame: dict[str, Any]) -> tuple[str, Any]:
    payload = frame["payload"]
    return payload["event"], payload["payload"]


# --- the policies, on the wire ----------------------------------------------------------------


async def test_policies_decide_who_joins_which_topic(sandbox, sql, mint):
    collaborator, stranger = new_id(), new_id()
    session, owner = make_session(sql, collaborator)
    topic = f"session:{session}"
    token = {u: mint("authenticated", sub=u) for u in (owner, collaborator, stranger)}
    sockets: list[Wire] = []

    async def join(sub_topic: str, access_token: str | None, private: bool = True):
        w = await Wire.open(sandbox.url, sandbox.anon_key)
        sockets.append(w)
        extra = {"access_token": access_token} if access_token else {}
        _, reply = await w.join(sub_topic, {**PRIVATE, "private": private}, **extra)
        return w, reply["payload"]

    try:
        owner_ws, reply = await join(topic, token[owner])
        assert reply["status"] == "ok", reply
        collab_ws, reply = await join(topic, token[collaborator])
        assert reply["status"] == "ok", reply
        assert (await join(topic, token[stranger]))[1] == refusal(topic)
        assert (await join(topic, None))[1] == refusal(topic), "anon may not join"
        assert (await join(topic, sandbox.service_role_key))[1]["status"] == "ok"
        assert (await join(f"user:{owner}", token[owner]))[1]["status"] == "ok"
        assert (await join(f"user:{owner}", token[collaborator]))[1] == refusal(f"user:{owner}")
        bad = "session:not-a-uuid"
        assert (await join(bad, token[owner]))[1] == refusal(bad), "malformed ids are refused"
        # the public topic of the same name is another namespace: joinable, but hears nothing
        public_ws, reply = await join(topic, token[stranger], private=False)
        assert reply["status"] == "ok"

        # members write (broadcast) and read; the public namespace does not hear it
        await owner_ws.send(
            f"realtime:{topic}",
            "broadcast",
            {"type": "broadcast", "event": "chat:message", "payload": {"content": "hi"}},
            join_ref="1",
        )
        got = await collab_ws.recv_event("broadcast", 5)
        assert broadcast_payload(got) == ("chat:message", {"content": "hi"})
        await public_ws.silent(0.5)

        # a stranger added as collaborator may join; removed, their token refresh ends it
        sql(
            "insert into public.chat_session_collaborators (session_id, user_id) values (%s, %s)",
            session,
            stranger,
        )
        stranger_ws, reply = await join(topic, token[stranger])
        assert reply["status"] == "ok", reply
        sql(
            "delete from public.chat_session_collaborators where session_id = %s and user_id = %s",
            session,
            stranger,
        )
        fresh = mint("authenticated", sub=stranger, ttl=7200)
        await stranger_ws.send(f"realtime:{topic}", "access_token", {"access_token": fresh})
        system = await stranger_ws.recv_event("system", 5)
        assert system["payload"]["status"] == "error"
        assert system["payload"]["message"] == (
            f"You no longer have permission to read from this Channel topic: {topic}"
        )
    finally:
        for w in sockets:
            await w.close()


def test_sessions_are_visible_to_their_members_only(sandbox, sql):
    collaborator, stranger = new_id(), new_id()
    session, owner = make_session(sql, collaborator)
    query = "select id::text from public.chat_sessions where id = %s"
    assert run_as(sandbox.db_url, owner, query, session) == [(session,)]
    assert run_as(sandbox.db_url, collaborator, query, session) == [(session,)]
    assert run_as(sandbox.db_url, stranger, query, session) == []
    assert (
        run_as(
            sandbox.db_url,
            collaborator,
            "update public.chat_sessions set title = 'mine now' where id = %s",
            session,
        )
        == 0
    ), "only the owner edits the session"


# --- the seed's client code under supabase-js -------------------------------------------------


@pytest.mark.js
def test_private_session_channel_under_supabase_js(node, sandbox, sql, mint):
    collaborator, stranger = new_id(), new_id()
    session, owner = make_session(sql, collaborator)
    users = {
        name: {"id": uid, "token": mint("authenticated", sub=uid, aud="authenticated")}
        for name, uid in (("owner", owner), ("collaborator", collaborator), ("stranger", stranger))
    }
    server_message = {"id": "srv-1", "role": "assistant", "content": "I found 3 ryokans"}

    def server_send() -> None:
        sql(
            "select realtime.send(%s::jsonb, 'chat:message', %s, true)",
            json.dumps(server_message),
            f"session:{session}",
        )

    r = run_flow(
        node,
        SCRIPT,
        "session",
        {"url": sandbox.url, "key": sandbox.anon_key, "sessionId": session, **users},
        steps={"server-send": server_send},
    )
    assert r["statuses"]["owner"] == ["SUBSCRIBED"]
    assert r["statuses"]["collaborator"] == ["SUBSCRIBED"]
    assert r["statuses"]["stranger"][0] == "CHANNEL_ERROR"
    assert r["strangerReply"] == refusal(f"session:{session}")
    owner_message = {
        "id": "msg-1",
        "session_id": session,
        "user_id": owner,
        "content": "Hello Kyoto",
    }
    assert r["messages"]["owner"] == [server_message]
    assert r["messages"]["collaborator"] == [server_message, owner_message]
    assert r["messages"]["stranger"] == []
    assert r["typing"]["collaborator"] == [
        {"session_id": session, "user_id": owner, "is_typing": True}
    ]
    assert r["typing"]["owner"] == [] and r["typing"]["stranger"] == []


@pytest.mark.js
def test_user_channel_and_sign_out_under_supabase_js(node, sandbox, sql, mint):
    me, other = new_id(), new_id()

    def server_send() -> None:
        for user in (other, me):
            sql(
                "select realtime.send(%s::jsonb, 'notification', %s, true)",
                json.dumps({"type": "trip.updated", "for": user}),
                f"user:{user}",
            )

    r = run_flow(
        node,
        SCRIPT,
        "user",
        {
            "url": sandbox.url,
            "key": sandbox.anon_key,
            "user": {"id": me, "token": mint("authenticated", sub=me, aud="authenticated")},
            "otherUserId": other,
        },
        steps={"server-send": server_send},
    )
    assert r["otherReply"] == refusal(f"user:{other}")
    [(event, payload)] = r["events"]
    assert event == "notification"
    assert payload == {"type": "trip.updated", "for": me, "id": payload["id"]}, (
        "realtime.send adds an id"
    )
    assert r["afterSignOut"] == refusal(f"user:{me}"), "setAuth(null) leaves only the anon key"


# --- server-originated events, from Python ----------------------------------------------------


async def test_server_originated_events_reach_the_user_with_realtime_py(sandbox, sql, mint):
    me, other = new_id(), new_id()
    client = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=2)
    await client.connect()
    await client.set_auth(mint("authenticated", sub=me, aud="authenticated"))
    events: list[dict[str, Any]] = []
    states: dict[str, list[tuple[str, str]]] = {"own": [], "other": []}
    try:
        own = client.channel(f"user:{me}", {"config": {**PRIVATE}})
        own.on_broadcast("notification", events.append)
        own.on_broadcast("trip:updated", events.append)
        await own.subscribe(lambda s, e: states["own"].append((str(s), str(e or ""))))
        theirs = client.channel(f"user:{other}", {"config": {**PRIVATE}})
        theirs.on_broadcast("notification", events.append)
        await theirs.subscribe(lambda s, e: states["other"].append((str(s), str(e or ""))))
        await wait_for(lambda: states["own"] and states["other"], 10, f"states {states}")
        assert states["own"][0][0] == str(RealtimeSubscribeStates.SUBSCRIBED)
        assert states["other"][0][0] == str(RealtimeSubscribeStates.CHANNEL_ERROR)
        assert (
            "Unauthorized: You do not have permissions to read from this Channel topic: "
            f"user:{other}" in states["other"][0][1]
        )

        # 1. a database function: realtime.send(payload, event, topic, private)
        sql(
            "select realtime.send(%s::jsonb, 'notification', %s, true)",
            json.dumps({"type": "booking.confirmed"}),
            f"user:{me}",
        )
        sql(
            "select realtime.send(%s::jsonb, 'notification', %s, true)",
            json.dumps({"type": "not for me"}),
            f"user:{other}",
        )
        # 2. the Realtime REST API from the backend with the service role key
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{sandbox.url}/realtime/v1/api/broadcast",
                json={
                    "messages": [
                        {
                            "topic": f"user:{me}",
                            "event": "trip:updated",
                            "payload": {"trip_id": 7},
                            "private": True,
                        }
                    ]
                },
                headers={
                    "apikey": sandbox.service_role_key,
                    "Authorization": f"Bearer {sandbox.service_role_key}",
                },
            ) as resp,
        ):
            assert resp.status == 202
        await wait_for(lambda: len(events) >= 2, 10, f"server events: {events}")
        # the two paths race (the database one goes through the WAL): match by event, not order
        by_event = {e["event"]: e["payload"] for e in events}
        note = by_event["notification"]
        assert note == {"type": "booking.confirmed", "id": note["id"]}  # realtime.send adds id
        assert by_event["trip:updated"] == {"trip_id": 7}
        assert len(events) == 2
    finally:
        await client.close()


# --- the demo scenario and the watch profile --------------------------------------------------


async def test_demo_tripsage_traffic_and_profile(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "tripsage")

    def token(sub: str) -> str:
        return pyjwt.encode(
            {"role": "authenticated", "sub": sub, "exp": int(time.time()) + 600},
            sb.jwt_secret,
            "HS256",
        )

    seen: list[tuple[str, str, Any]] = []

    async def read(w: Wire) -> None:
        while True:
            frame = await w.recv(30)
            if isinstance(frame, dict) and frame.get("event") == "broadcast":
                seen.append((frame["topic"], *broadcast_payload(frame)))

    sockets: list[Wire] = []
    readers: list[asyncio.Task[None]] = []
    try:
        # each traveller, with their own token, on their user topic and the sessions they own
        for traveller in tripsage.TRAVELLERS:
            w = await Wire.open(sb.url, sb.anon_key)
            sockets.append(w)
            topics = [f"user:{traveller.id}"] + [
                s.topic for s in tripsage.SESSIONS if s.owner == traveller
            ]
            for topic in topics:
                _, reply = await w.join(topic, PRIVATE, access_token=token(traveller.id))
                assert reply["payload"]["status"] == "ok", (topic, reply)
            readers.append(asyncio.create_task(read(w)))
        await wait_for(
            lambda: {"chat:typing", "chat:message", "notification"} <= {e for _, e, _ in seen},
            12,
            f"tripsage traffic within 12 s: {seen}",
        )
    finally:
        for task in readers:
            task.cancel()
        for w in sockets:
            await w.close()
    sessions = {f"realtime:{s.topic}" for s in tripsage.SESSIONS}
    users = {f"realtime:user:{t.id}" for t in tripsage.TRAVELLERS}
    for topic, event, payload in seen:
        if event.startswith("chat:"):
            assert topic in sessions and payload["session_id"] == topic.split(":", 2)[2]
        else:
            assert topic in users and payload["user_id"] == topic.split(":", 2)[2]

    body = check_profile(sb, "tripsage", 10, env=profile_env(sb, "tripsage"))
    assert_all_subscribed(body, "tripsage")
    chat = sum(
        n
        for s in tripsage.SESSIONS[:2]
        for n in channel_kinds(body, s.topic).get("broadcast", {}).values()
    )
    assert chat >= 2, body["summary"]["messages"]
    assert body["returncode"] == 0, [a for a in body["alerts"] if a["level"] == "alert"]
    assert "Traceback" not in sb.log()
