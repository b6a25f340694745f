"""Hostile PostgREST requests against a real sandbox: each is answered with a status below 500
(PostgREST's 4xx with its code, or a PostgreSQL error mapped as PostgREST maps it), the sandbox logs
no traceback, and it keeps serving. The first six are the inputs the property tests found
answering 500 (tests/unit/test_fuzz_rest.py); the rest reach PostgreSQL with values it refuses.
"""

from __future__ import annotations

import httpx
import pytest

DEEP_TREE = "(" + "and(" * 1200 + "id.eq.1" + ")" * 1201  # under aiohttp's 8 KB request line
FOUND = [
    ("GET", "?limit=²", {}, None),
    ("GET", "?select=data->²", {}, None),
    ("GET", "?data->--1=eq.1", {}, None),
    ("GET", "?or=" + DEEP_TREE, {}, None),
    ("GET", "", {"Range": "bytes=²-3".encode()}, None),
    ("POST", "", {}, '{"id": 2}'.encode("utf-16")),
]
REFUSED_BY_POSTGRES = [
    ("GET", "?limit=99999999999999999999", {}, None),
    ("GET", "?id=eq.99999999999999999999", {}, None),
    ("GET", "?name=eq.%00", {}, None),
    ("GET", "?select=id::nosuchtype", {}, None),
    ("GET", "?name=match.(((", {}, None),
    ("GET", "?id=gt.1e400", {}, None),
    ("GET", "", {"Range": "bytes=99999999999999999999-"}, None),
    ("POST", "", {}, b"[" * 3000 + b"]" * 3000),
    ("POST", "", {}, b'{"id": 1, "name": "\\u0000"}'),
    ("POST", "", {}, b'{"id": 99999999999999999999999}'),
    ("POST", "", {}, b'{"id": 5, "data": {"a": NaN}}'),
    ("POST", "", {}, b"\xff\xfe"),
]


@pytest.fixture(scope="module")
def items(sql):
    sql(
        "create table if not exists public.hostile_rest (id int primary key, name text, "
        "data jsonb, tags text[])"
    )
    sql("grant all on public.hostile_rest to anon")
    return "/rest/v1/hostile_rest"


@pytest.mark.parametrize(
    ("method", "query", "headers", "body"),
    FOUND + REFUSED_BY_POSTGRES,
    ids=[
        f"{m} {q[:30]}{str(h)[:20]}{(b or b'')[:12]!r}"
        for m, q, h, b in FOUND + REFUSED_BY_POSTGRES
    ],
)
def test_hostile_requests_are_4xx_not_500(sandbox, items, method, query, headers, body):
    log_before = len(sandbox.log())
    h = {"apikey": sandbox.anon_key, "Content-Type": "application/json", **headers}
    r = httpx.request(method, sandbox.url + items + query, headers=h, content=body, timeout=15)
    assert 200 <= r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert set(r.json()) == {"code", "details", "hint", "message"}
    assert "Traceback" not in sandbox.log()[log_before:]
    ok = httpx.get(sandbox.url + items + "?limit=1", headers={"apikey": sandbox.anon_key})
    assert ok.status_code == 200
