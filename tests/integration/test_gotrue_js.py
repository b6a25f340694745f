"""supabase-js signs up, signs in and joins a private channel allowed by an `auth.uid()` policy,
with no token minted by hand (issue 11, item 7): `tests/js/auth.mjs` under Node, with
realtime-js's default protocol (vsn 2.0.0) and with vsn 1.0.0.

The policy lets a user read only the topic named after their own id, so the test shows both
sides: Alice's session JWT (from the sandbox's `/auth/v1`) gets her in and carries her
broadcast, Bob's gets him refused from her topic.
"""

from __future__ import annotations

import json
import uuid

import jwt as pyjwt
import pytest
from node_process import run_node_script

pytestmark = [pytest.mark.js, pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])]


def run_flow(node, sandbox, sql, vsn: str) -> tuple[dict, dict, list[str]]:
    """Run `auth.mjs` under a policy of its own; returns (RESULT, config, topics sent to)."""
    tag = uuid.uuid4().hex[:8]
    prefix, policy = f"inbox-{tag}", f"gotrue_js_inbox_{tag}"
    sql(
        f"create policy {policy} on realtime.messages for select to authenticated"
        f" using (realtime.topic() = '{prefix}:' || (select auth.uid())::text"
        f" and extension = 'broadcast')"
    )
    sent: list[str] = []

    def on_line(line: str, _stdin) -> None:
        if line.startswith("SUBSCRIBED "):
            topic = json.loads(line[len("SUBSCRIBED ") :])["topic"]
            sent.append(topic)
            sql(
                "select realtime.send(%s::jsonb, 'note', %s, true)",
                json.dumps({"text": "for alice"}),
                topic,
            )

    cfg = {
        "url": sandbox.url,
        "key": sandbox.anon_key,
        "vsn": vsn,
        "prefix": prefix,
        "alice": f"alice-{tag}@example.com",
        "bob": f"bob-{tag}@example.com",
        "password": "correct horse",
    }
    try:
        r = run_node_script(
            node,
            ["auth.mjs", json.dumps(cfg)],
            on_line=on_line,
            timeout=30,
            label=f"auth.mjs (vsn {vsn})",
        )
    finally:
        sql(f"drop policy if exists {policy} on realtime.messages")
    return r, cfg, sent


def test_signed_in_user_joins_own_private_channel(node, sandbox, sql, vsn):
    r, cfg, sent = run_flow(node, sandbox, sql, vsn)
    assert r["vsn"] == vsn
    assert r["signup"] == {"error": None, "user_id": r["signin"]["user_id"], "has_session": True}
    assert r["signin"]["error"] is None and r["signin"]["has_session"] is True
    alice_id = r["signin"]["user_id"]
    assert r["topic"] == f"{cfg['prefix']}:{alice_id}" and sent == [r["topic"]]

    alice = r["alice"]
    assert alice["statuses"] == ["SUBSCRIBED"] and alice["errors"] == []
    assert alice["join_token_is_session_token"] is True  # supabase-js passed it on by itself
    claims = pyjwt.decode(
        alice["access_token"], sandbox.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    assert (claims["sub"], claims["role"], claims["email"]) == (
        alice_id,
        "authenticated",
        cfg["alice"],
    )
    [msg] = alice["received"]
    assert (msg["event"], msg["payload"]["text"]) == ("note", "for alice")

    bob = r["bob"]
    assert r["bob_signup"]["error"] is None and r["bob_signup"]["user_id"] != alice_id
    assert bob["join_token_is_session_token"] is True
    assert bob["statuses"][0] == "CHANNEL_ERROR"
    assert bob["errors"][0] == (
        f"Unauthorized: You do not have permissions to read from this Channel topic: {r['topic']}"
    )
