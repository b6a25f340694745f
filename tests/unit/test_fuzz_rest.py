"""Hostile PostgREST requests: query strings, headers and bodies, as anyone with the anon key may
send them to the sandbox's `/rest/v1/{table}`.

A request is parsed (`sandbox.rest.query.parse`), then turned into SQL (`sandbox.rest.sql`), with
every referenced column checked against the catalog in between. The properties:

* any query string gives a plan or a `RestError` (PostgREST's 400 with its code), never an
  exception that would be a 500;
* a plan whose columns exist turns into SQL without raising, for reads, counts, updates and
  deletes;
* the `Range` and `Prefer` headers and the JSON body of an insert parse or are refused.

Found inputs are kept as `@example`s.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox.rest import query, sql
from sandbox.rest.catalog import Column
from sandbox.rest.errors import RestError
from sandbox.rest.http import json_body, parse_prefer, parse_range
from sandbox.rest.verbs import _insert_rows

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
REL = sql.relation("public", "items")

names = st.sampled_from(
    ["id", "name", "data", '"my col"', "data->a->>b", "data->0", "x->-1"]
) | st.text(max_size=8)
operations = st.builds(
    lambda neg, op, val: f"{'not.' if neg else ''}{op}.{val}",
    st.booleans(),
    st.sampled_from([*query.ALL_OPERATORS, "nope", ""]),
    st.text(max_size=10) | st.sampled_from(["(1,2)", '("a,b",c)', "()", "null", "not_null", "*a*"]),
)
logic = st.recursive(
    st.builds(lambda n, o: f"{n}.{o}", names, operations),
    lambda inner: st.builds(
        lambda kind, items: f"{kind}({','.join(items)})",
        st.sampled_from(["and", "or", "not.and", "not.or"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
pairs = st.lists(
    st.one_of(
        st.tuples(names, operations),
        st.tuples(
            st.sampled_from(["or", "and", "not.or", "not.and"]), logic.map(lambda t: f"({t})")
        ),
        st.tuples(
            st.just("select"),
            st.text(max_size=20) | st.sampled_from(["*", "a:id,name::text", "x(y)", "...z"]),
        ),
        st.tuples(
            st.just("order"),
            st.text(max_size=20) | st.sampled_from(["id.desc.nullslast", "a,b.asc"]),
        ),
        st.tuples(
            st.sampled_from(["limit", "offset"]),
            st.text(max_size=6) | st.integers(0, 10**30).map(str),
        ),
        st.tuples(st.sampled_from(["columns", "on_conflict"]), st.text(max_size=12)),
        st.tuples(st.text(max_size=10), st.text(max_size=10)),
    ),
    max_size=5,
)


def columns_of(plan: query.Plan) -> dict[str, Column]:
    """What the catalog check lets through: every column the plan names exists (as text)."""
    return {f.name: Column(f.name, "text") for f in plan.fields()}


@FUZZ
@given(pairs)
@example([("limit", "²")])  # str.isdigit() is true for "²", int("²") raised ValueError
@example([("data->²", "eq.1")])  # the JSON path key went to int() the same way
@example([("data->--1", "eq.1")])  # and "--1".lstrip("-") is digits too
@example([("or", "(" + "and(" * 2000 + "id.eq.1" + ")" * 2001)])  # RecursionError
def test_any_query_string_plans_or_is_refused(pairs) -> None:
    try:
        plan = query.parse(pairs, schema="public", table="items")
    except RestError as err:
        assert 400 <= err.status < 500
        return
    cols = columns_of(plan)
    sql.read_sql(REL, plan, cols, limit=plan.limit, offset=plan.offset)
    sql.count_sql(REL, plan, cols)
    sql.delete_sql(REL, plan, cols, representation=True)
    sql.update_sql(REL, "{}", ["name"], plan, cols, representation=False)


@FUZZ
@given(st.text(max_size=20) | st.none())
@example("bytes=²-3")
@example("0-١٢")  # Arabic-Indic digits are digits to str.isdigit too
def test_range_header(header) -> None:
    got = parse_range(header)
    assert got is None or (got[0] >= 0 and (got[1] is None or got[1] >= 0))


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=3))
def test_prefer_header(values) -> None:
    assert isinstance(parse_prefer(values), dict)


@FUZZ
@given(st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
@example('{"a": 1}'.encode("utf-16"))  # the stdlib reads UTF-16 JSON; raw.decode() did not
@example(b'{"n": ' + str(2**70).encode() + b"}")
@example(b'{"n": 1e400}')
@example(b"[" * 5000 + b"]" * 5000)
def test_insert_bodies(raw: bytes) -> None:
    try:
        rows, text = _insert_rows(raw)
    except RestError:
        return
    assert all(isinstance(r, dict) for r in rows) and isinstance(text, str)


@FUZZ
@given(st.binary(max_size=80))
def test_json_bodies(raw: bytes) -> None:
    with contextlib.suppress(RestError):
        json_body(raw)
