"""A model of the PostgreSQL types a filter may compare: how a value becomes a comparison key.

The server casts both the column's text and the filter's value to the column's type and lets
PostgreSQL compare them. Here each type is a `PgType`: `parse` reads text with the type's input
syntax (the readers in `sandbox.pgtext`) into a key that orders and compares as PostgreSQL
would (NaN above every number, `-infinity` below every date, jsonb's cross-type order), and
`from_json` does the same for a record's JSON value. Types this module does not know (enums,
domains, inet, ...) compare as text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from .. import pgtext

__all__ = ["PgType", "infer_type_name", "json_text", "lookup_type"]


@dataclass(frozen=True, slots=True)
class PgType:
    """What the filters know about one PostgreSQL type.

    `parse` turns text into a comparison key the way the type's input function would (raising
    `ValueError`/`ArithmeticError` where PostgreSQL raises); `from_json` does the same for a
    record's JSON value, which the server sees as `value #>> '{}'`.
    """

    name: str
    parse: Callable[[str], Any]
    from_json: Callable[[object], Any]
    textual: bool = False  # has LIKE and regex operators
    case_insensitive: bool = False  # citext: LIKE and ~ ignore case
    comparable: bool = True  # has = and ordering (json has none)
    boolean: bool = False  # IS TRUE / FALSE / UNKNOWN allowed
    array: bool = False  # `in` on an array column has no `=` operator to use


def json_text(value: object) -> str:
    """`value #>> '{}'`: the text PostgreSQL casts a record's JSON value from."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _generic_from_json(parse: Callable[[str], Any]) -> Callable[[object], Any]:
    def from_json(value: object) -> Any:
        return parse(value if isinstance(value, str) else json_text(value))

    return from_json


def _make_type(name: str, parse: Callable[[str], Any], **flags: bool) -> PgType:
    return PgType(name, parse, _generic_from_json(parse), **flags)


# -- integers ---------------------------------------------------------------------------------


def _int_type(name: str, bits: int) -> PgType:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def parse(text: str) -> int:
        return pgtext.read_int(text, bits)

    def from_json(value: object) -> int:
        if type(value) is int:  # fast path; bool is excluded on purpose ('true'::int fails)
            if not low <= value <= high:
                raise ValueError("integer out of range")
            return value
        return parse(json_text(value))

    return PgType(name, parse, from_json)


# -- numeric and floats -------------------------------------------------------------------------
# Keys are (0, number) or (1, 0) for NaN: PostgreSQL sorts NaN above everything and NaN = NaN,
# unlike IEEE/Python comparisons.

_NAN_KEY: Final = (1, 0)


def _parse_numeric(text: str) -> tuple[int, Any]:
    number = pgtext.read_numeric(text)
    if isinstance(number, Decimal) and number.is_nan():
        return _NAN_KEY
    return (0, number)


def _numeric_from_json(value: object) -> tuple[int, Any]:
    if type(value) is int:
        return (0, value)  # int and Decimal compare and hash exactly
    return _parse_numeric(json_text(value))


def _float_key(number: float) -> tuple[int, float]:
    return _NAN_KEY if math.isnan(number) else (0, number)


def _parse_float8(text: str) -> tuple[int, float]:
    return _float_key(pgtext.read_float8(text))


def _parse_float4(text: str) -> tuple[int, float]:
    return _float_key(pgtext.read_float4(text))


def _float8_from_json(value: object) -> tuple[int, float]:
    if type(value) is int or type(value) is float:
        return _float_key(float(value))
    return _parse_float8(json_text(value))


# -- booleans -----------------------------------------------------------------------------------


def _bool_from_json(value: object) -> bool:
    if value is True or value is False:
        return value
    return pgtext.read_bool(json_text(value))


# -- date and time ------------------------------------------------------------------------------
# Keys are (0,) for -infinity, (1, value), (2,) for infinity so the specials order correctly.

_NEG_INF: Final = (0,)
_POS_INF: Final = (2,)


def _moment_key(value: datetime | date | str) -> tuple[Any, ...]:
    if isinstance(value, str):
        return _POS_INF if value == "infinity" else _NEG_INF
    return (1, value)


def _parse_timestamptz(text: str) -> tuple[Any, ...]:
    return _moment_key(pgtext.read_timestamptz(text))


def _parse_timestamp(text: str) -> tuple[Any, ...]:
    return _moment_key(pgtext.read_timestamp(text))


def _parse_date(text: str) -> tuple[Any, ...]:
    return _moment_key(pgtext.read_date(text))


def _parse_timetz(text: str) -> tuple[int, int]:
    """`timetz` orders by UTC instant, then by zone: equal only if time AND zone match."""
    moment = pgtext.read_timetz(text)
    offset = moment.utcoffset()
    zone = -int(offset.total_seconds()) if offset is not None else 0
    micros = ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000
    return (micros + moment.microsecond + zone * 1_000_000, zone)


# -- json ---------------------------------------------------------------------------------------


def _jsonb_key(value: object) -> tuple[Any, ...]:
    """Order keys following jsonb's rules: Object > Array > Boolean > Number > String > Null."""
    if value is None:
        return (0,)
    if isinstance(value, str):
        return (1, value)
    if value is True or value is False:
        return (3, value)
    if isinstance(value, int):
        return (2, value)
    if isinstance(value, float):
        return (2, Decimal(repr(value))) if math.isfinite(value) else (2, Decimal(str(value)))
    if isinstance(value, Decimal):
        return (2, value)
    if isinstance(value, list):
        return (4, len(value), tuple(_jsonb_key(item) for item in value))
    if isinstance(value, dict):
        # jsonb stores keys shorter-first, then bytewise; comparison walks that order.
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return (5, len(value), tuple((k, _jsonb_key(value[k])) for k in keys))
    raise ValueError(f"not a JSON value: {value!r}")


def _parse_jsonb(text: str) -> tuple[Any, ...]:
    return _jsonb_key(json.loads(text, parse_float=Decimal))


# -- text ---------------------------------------------------------------------------------------


def _identity(text: str) -> str:
    return text


def _text_type(
    name: str, parse: Callable[[str], str] = _identity, *, case_insensitive: bool = False
) -> PgType:
    return _make_type(name, parse, textual=True, case_insensitive=case_insensitive)


def _parse_bpchar(text: str) -> str:
    """Cast like `value::character`: keep ONE character; a trailing blank is insignificant.

    `check_equality_op` casts to `type_::text`, which for bpchar is `character`, i.e.
    `char(1)`, so the server compares only the first character of both sides. A server quirk,
    reproduced on purpose.
    """
    return text[:1].rstrip(" ")


# -- arrays -------------------------------------------------------------------------------------

_NULL_ELEMENT: Final = (1,)


def _flat_array(text: str) -> list[Any]:
    """A one-dimensional array literal's elements. Multi-dimensional and bound-decorated
    literals are refused (PostgreSQL would accept them; no client sends them in a filter)."""
    elements = pgtext.parse_array(text) if text.lstrip(pgtext.SPACE)[:1] == "{" else None
    if elements is None or any(isinstance(item, list) for item in elements):
        raise pgtext.ArrayLiteralError(f'malformed array literal: "{text}"')
    return elements


def _array_type(element: PgType) -> PgType:
    """The array type of `element`: keys compare element-wise, NULLs last, then length."""

    def wrap(key: Any) -> tuple[Any, ...]:
        return (0, key)

    def parse(text: str) -> tuple[Any, ...]:
        return tuple(
            _NULL_ELEMENT if item is None else wrap(element.parse(item))
            for item in _flat_array(text)
        )

    def from_json(value: object) -> tuple[Any, ...]:
        if isinstance(value, list):
            return tuple(
                _NULL_ELEMENT if item is None else wrap(element.from_json(item)) for item in value
            )
        return parse(json_text(value))

    return PgType("_" + element.name, parse, from_json, array=True)


# -- registry -----------------------------------------------------------------------------------

_BASE_TYPES: Final[dict[str, PgType]] = {
    t.name: t
    for t in (
        _int_type("int2", 16),
        _int_type("int4", 32),
        _int_type("int8", 64),
        PgType("numeric", _parse_numeric, _numeric_from_json),
        _make_type("float4", _parse_float4),
        PgType("float8", _parse_float8, _float8_from_json),
        PgType("bool", pgtext.read_bool, _bool_from_json, boolean=True),
        _text_type("text"),
        _text_type("varchar"),
        _text_type("name"),
        _text_type("char"),
        _text_type("bpchar", _parse_bpchar),
        _text_type("citext", str.lower, case_insensitive=True),
        _make_type("uuid", pgtext.read_uuid),
        _make_type("date", _parse_date),
        _make_type("timestamp", _parse_timestamp),
        _make_type("timestamptz", _parse_timestamptz),
        _make_type("time", pgtext.read_time),
        _make_type("timetz", _parse_timetz),
        PgType("jsonb", _parse_jsonb, _jsonb_key),
        _make_type("json", _parse_jsonb, comparable=False),
    )
}

_TYPE_ALIASES: Final[Mapping[str, str]] = {
    "smallint": "int2",
    "smallserial": "int2",
    "integer": "int4",
    "int": "int4",
    "serial": "int4",
    "bigint": "int8",
    "bigserial": "int8",
    "decimal": "numeric",
    "real": "float4",
    "float": "float8",
    "double precision": "float8",
    "boolean": "bool",
    "character varying": "varchar",
    "character": "bpchar",
    '"char"': "char",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time with time zone": "timetz",
    "time without time zone": "time",
}

# Record values whose column has no declared type: enough of a type to apply SQL semantics.
_INFERRED_NULL: Final = "unknown"
_UNKNOWN_TYPE: Final = PgType(
    _INFERRED_NULL, _identity, _generic_from_json(_identity), textual=True, boolean=True
)


def _normalize_type_name(name: str) -> str:
    """Map display names (`integer`, `text[]`, `varchar(20)`) to `pg_type.typname`."""
    cleaned = " ".join(re.sub(r"\([^)]*\)", " ", name.strip().lower()).split())
    cleaned = cleaned.removeprefix("pg_catalog.")
    if cleaned.endswith("[]"):
        return "_" + _normalize_type_name(cleaned[:-2].rstrip("[] "))
    return _TYPE_ALIASES.get(cleaned, cleaned)


@lru_cache(maxsize=512)
def lookup_type(name: str) -> PgType:
    """Resolve a type name; unknown types (enums, domains, inet, ...) compare as text."""
    if name == _INFERRED_NULL:
        return _UNKNOWN_TYPE
    typname = _normalize_type_name(name)
    if typname.startswith("_") and len(typname) > 1:
        return _array_type(lookup_type(typname[1:]))
    return _BASE_TYPES.get(typname) or _text_type(typname)


def infer_type_name(value: object) -> str:
    """Type a value whose column type is unknown; bool first since bool is an int subclass."""
    if value is None:
        return _INFERRED_NULL
    if value is True or value is False:
        return "bool"
    if isinstance(value, (int, float)):
        return "numeric"
    if isinstance(value, (list, dict)):
        return "jsonb"
    return "text"
