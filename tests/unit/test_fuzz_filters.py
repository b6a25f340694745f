"""Hostile postgres_changes filter strings, as any client may put in its join.

The sandbox parses the `filter` of every binding a client joins with (`sandbox.filters`), and
evaluates it against every change of that table for as long as the client stays. The properties:

* parsing any text gives a `Filter` or a `FilterError` (the server's error text, sent back as a
  system message), never another exception;
* a parsed filter never raises when evaluated, whatever the change's values and column types:
  where PostgreSQL would raise, the change is not delivered (`Filter.matches` says so).
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox.filters import OPERATORS, Filter, FilterError, parse_filter

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TYPES = [
    "int2", "int4", "int8", "numeric", "float4", "float8", "bool", "text", "varchar(20)",
    "citext", "bpchar", "uuid", "date", "timestamp", "timestamptz", "time", "timetz", "jsonb",
    "json", "_text", "_int4", "text[]", "my_enum", "inet",
]  # fmt: skip

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: json.loads gives them for NaN/Infinity
    | st.text(max_size=12)
    | st.sampled_from(
        ["2026-11-22T08:05:53Z", "12:00:00+02", "{1,2}", "00000000-0000-0000-0000-000000000000"]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
raw_values = st.text(max_size=16) | st.sampled_from(
    [
        "(1,2,3)",
        '("a,b",NULL,"c\\"d")',
        "()",
        "(",
        "null",
        "true",
        "unknown",
        "%a_",
        "[a-",
        "(?=x)",
        "1e400",
        "NaN",
        "-0",
        "{}",
    ]
)
columns = st.sampled_from(["id", "name", "status", "tags", "at", "data"]) | st.text(max_size=6)
conditions = st.builds(
    lambda col, neg, op, val: f"{col}={'not.' if neg else ''}{op}.{val}",
    columns,
    st.booleans(),
    st.sampled_from([*OPERATORS, "nope", ""]),
    raw_values,
)
filters = st.lists(conditions, min_size=1, max_size=4).map(",".join) | st.text(max_size=60)


def parsed(text: str) -> Filter | None:
    try:
        return parse_filter(text)
    except FilterError as err:
        assert isinstance(err.message, str) and err.message
        return None


@FUZZ
@given(filters)
@example("id=in.(" + ",".join(str(i) for i in range(101)) + ")")  # too many values: refused
@example('name=eq."unterminated')
@example("name=like.[")
def test_any_filter_text_parses_or_is_refused(text: str) -> None:
    parsed(text)


@FUZZ
@given(
    filters,
    st.dictionaries(columns, values, max_size=6),
    st.dictionaries(columns, st.sampled_from(TYPES), max_size=6),
)
@example("at=gt.2026-01-01", {"at": "not a time"}, {"at": "timestamptz"})
@example("id=eq.1", {"id": float("nan")}, {"id": "int4"})
@example("id=eq.1", {"id": 2**70}, {"id": "int8"})
@example("data=eq.{}", {"data": {"a": [1, None]}}, {"data": "jsonb"})
@example("name=match.(a", {"name": "a"}, {"name": "text"})  # an invalid regex
def test_a_parsed_filter_never_raises_on_any_change(text: str, record: dict, types: dict) -> None:
    f = parsed(text)
    if f is None:
        return
    assert f.matches(record, types) in (True, False)
    assert f.matches(record) in (True, False)  # types inferred from the values
