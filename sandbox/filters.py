"""Parse and evaluate Supabase Realtime ``postgres_changes`` filters.

A ``postgres_changes`` subscription may carry a PostgREST-style ``filter`` such as
``id=gt.9,status=not.in.(done,"on hold")``. The real server (supabase/realtime 2.129.x)
splits and validates that string in Elixir
(``Extensions.PostgresCdcRls.Subscriptions.parse_subscription_params/1``), stores the
conditions in ``realtime.subscription`` (where a trigger rejects a few more), and for every
WAL change evaluates them inside PostgreSQL (``realtime.is_visible_through_filters`` ->
``realtime.check_equality_op``) by casting *both* the column's text and the filter value to
the column's type. This module reproduces both halves without a database so the emulator
delivers exactly the changes a real project would deliver:

* :func:`parse_filter` ports the Elixir parser byte for byte, including its error text, which
  clients show to users verbatim.
* :meth:`Filter.matches` ports the SQL semantics: typed comparison, three-valued logic (a
  NULL comparison, negated or not, never matches), and "the column must be present in the
  change" (a filter on a column the change does not carry never matches, which is why the
  server does not deliver DELETEs filtered on non-key columns without REPLICA IDENTITY FULL).

Known approximations (documented so nobody mistakes them for server behaviour): text ordering
uses code-point order (``C`` collation); ``match``/``imatch`` run PostgreSQL ARE patterns
through Python's :mod:`re` after translating the common differences; enums and other types
this module does not know compare as text.
"""

from __future__ import annotations

import json
import math
import operator
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "IS_VALUES",
    "MAX_IN_VALUES",
    "OPERATORS",
    "Condition",
    "Filter",
    "FilterError",
    "FilterRejectedError",
    "parse_filter",
]

#: Operators the server accepts, in the order of its ``@filter_types`` list.
OPERATORS: Final[tuple[str, ...]] = (
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "in",
    "like",
    "ilike",
    "is",
    "match",
    "imatch",
    "isdistinct",
)

#: The only right-hand sides ``is`` accepts (case-sensitive, as in the server's trigger),
#: mapped to the Python value stored in :attr:`Condition.value`.
IS_VALUES: Final[Mapping[str, object]] = {
    "null": None,
    "true": True,
    "false": False,
    "unknown": "unknown",
}

#: ``realtime.subscription_check_filters`` rejects longer ``in`` lists.
MAX_IN_VALUES: Final = 100

_PARAMS_ERROR_PREFIX: Final = "Error parsing `filter` params: "
_EMPTY_SEGMENT: Final = "filter must not contain empty segments (check for extra commas)"
_IN_NEEDS_PARENS: Final = "`in` filter value must be wrapped by parentheses"
_BAD_IS_VALUE: Final = "invalid value for is filter: must be null, true, false, or unknown"
_TOO_MANY_IN: Final = "too many values for `in` filter. Maximum 100"


class FilterError(ValueError):
    """A filter the server refuses.

    ``message`` is exactly the text the server puts in its error reply, so the emulator can
    forward it unchanged (clients surface it to users and some tests assert on it).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FilterRejectedError(FilterError):
    """A filter the Elixir parser accepts but Postgres rejects when the subscription is stored.

    ``message`` is the bare Postgres exception text raised by
    ``realtime.subscription_check_filters`` (e.g. a bad ``is`` value or too many ``in``
    values). The server wraps it in its "Unable to subscribe to changes ..." reply, which needs
    context (schema, table, ...) this module does not have, hence the separate class.
    """


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------

Evaluator = Callable[[object], bool]
_MISSING: Final = object()


@dataclass(frozen=True)
class Condition:
    """One ``column=[not.]op.value`` condition.

    ``value`` is the unquoted string for most operators; for ``in`` it is a tuple of the list's
    elements (``None`` for an unquoted ``NULL`` element), a tuple rather than a list so the
    frozen dataclass stays hashable; for ``is`` it is ``None``, ``True``, ``False`` or
    ``"unknown"``.
    """

    column: str
    op: str
    value: object
    negate: bool = False
    # Compiled evaluators keyed by the column type name they were compiled for. Compiling once
    # per (condition, type) keeps Filter.matches, which runs per change per subscriber, cheap.
    _evaluators: dict[str, Evaluator] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def evaluator(self, type_name: str) -> Evaluator:
        """Return the (cached) predicate for a column of PostgreSQL type ``type_name``.

        The predicate takes the record's JSON value (never called for a missing column) and
        returns whether the condition holds; SQL NULL results count as "does not hold".
        """
        ev = self._evaluators.get(type_name)
        if ev is None:
            ev = _compile(self, _lookup_type(type_name))
            self._evaluators[type_name] = ev
        return ev


@dataclass(frozen=True)
class Filter:
    """A parsed filter: every condition must hold (the wire format has no OR)."""

    conditions: tuple[Condition, ...] = ()

    def matches(
        self,
        record: Mapping[str, object],
        column_types: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether a change's ``record`` passes the filter, as ``is_visible_through_filters``.

        ``column_types`` maps column names to PostgreSQL type names (``int4``, ``timestamptz``,
        ``_text``, or display names such as ``integer``); a column without a type is typed
        from its Python value. Never raises: anything Postgres would error on counts as no
        match.
        """
        for cond in self.conditions:
            column = cond.column
            value = record.get(column, _MISSING)
            if value is _MISSING:
                # The server left-joins filters to the change's columns and requires every
                # filter to find its column, whatever the operator.
                return False
            type_name = column_types.get(column) if column_types else None
            if type_name is None:
                type_name = _infer_type_name(value)
            if not cond.evaluator(type_name)(value):
                return False
        return True

    @property
    def columns(self) -> set[str]:
        """Columns the filter reads, e.g. to check they exist before subscribing."""
        return {cond.column for cond in self.conditions}


# --------------------------------------------------------------------------------------------
# Parsing: a port of parse_filters/1 and friends in lib/extensions/postgres_cdc_rls/subscriptions.ex
# --------------------------------------------------------------------------------------------


def parse_filter(text: str | None) -> Filter:
    """Parse a ``filter`` string as the server does.

    ``None``, empty and whitespace-only filters mean "no filter". Raises :class:`FilterError`
    with the server's exact message for filters ``parse_subscription_params/1`` refuses, and
    :class:`FilterRejectedError` for ones the subscription trigger refuses regardless of the
    table (bad ``is`` value, malformed or oversized ``in`` list).
    """
    if text is None:
        return Filter(())
    trimmed = text.strip()
    if not trimmed:
        return Filter(())
    return Filter(tuple(_parse_segment(segment) for segment in _split_top_level(trimmed)))


def _parse_segment(segment: str) -> Condition:
    """Parse one comma-separated condition; mirrors ``parse_segment/1``."""
    trimmed = segment.strip()
    if not trimmed:
        raise FilterError(_PARAMS_ERROR_PREFIX + _EMPTY_SEGMENT)
    column, sep, rest = trimmed.partition("=")
    if not sep:
        # The server reports whatever its failed pattern match saw, via `inspect/1`.
        raise _params_error([trimmed])
    negate = rest.startswith("not.")
    if negate:
        rest = rest[4:]
    op, sep, raw_value = rest.partition(".")
    if not sep:
        raise _params_error([rest])
    if op not in OPERATORS:
        raise _params_error([op, raw_value])
    value: object
    if op == "in":
        if len(raw_value) < 2 or raw_value[0] != "(" or raw_value[-1] != ")":
            raise FilterError(_PARAMS_ERROR_PREFIX + _IN_NEEDS_PARENS)
        literal = "{" + raw_value[1:-1] + "}"
        try:
            elements = _parse_array_literal(literal)
        except ValueError as exc:
            raise FilterRejectedError(str(exc)) from None
        if len(elements) > MAX_IN_VALUES:
            raise FilterRejectedError(_TOO_MANY_IN)
        value = tuple(elements)
    else:
        value = _unquote(raw_value)
        if op == "is":
            if value not in IS_VALUES:
                raise FilterRejectedError(_BAD_IS_VALUE)
            value = IS_VALUES[value]
    return Condition(column, op, value, negate)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes; mirrors ``split_top_level/6``.

    As on the server, a double quote only opens a quoted run right after ``.``, ``(`` or ``,``
    (so ``O"Brien`` stays literal), and a backslash inside quotes escapes the next character.
    """
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    prev = ""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == "\\" and i + 1 < n:
                current.append(ch)
                current.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                quoted = False
            current.append(ch)
            prev = ch
            i += 1
            continue
        if ch == '"' and prev in (".", "(", ","):
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            prev = ""
            i += 1
            continue
        current.append(ch)
        prev = ch
        i += 1
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """Strip one pair of surrounding double quotes and backslash escapes (``unquote_value/1``).

    Anything that is not exactly one well-formed quoted string is kept verbatim, quotes
    included, because that is what the server stores.
    """
    if not value.startswith('"'):
        return value
    out: list[str] = []
    i = 1
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == '"':
            return "".join(out) if i == n - 1 else value
        if ch == "\\" and i + 1 < n:
            out.append(value[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return value


def _params_error(parts: list[str]) -> FilterError:
    return FilterError(_PARAMS_ERROR_PREFIX + _inspect_list(parts))


# Elixir's `inspect/1` output for the failed match, so messages are byte-identical.
_ELIXIR_ESCAPES: Final[Mapping[str, str]] = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x7f": "\\d",
}
_ELIXIR_PRINTABLE_LIMIT: Final = 4096
_ELIXIR_LIMIT: Final = 50


def _elixir_printable(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x20 <= cp <= 0x7E
        or ch in _ELIXIR_ESCAPES
        or 0xA0 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def _inspect_string(text: str) -> str:
    """Render ``text`` as Elixir's ``inspect/1`` does with default options."""
    head = text[:_ELIXIR_PRINTABLE_LIMIT]
    if all(_elixir_printable(ch) for ch in head):
        body = "".join(_ELIXIR_ESCAPES.get(ch, ch) for ch in head).replace("#{", "\\#{")
        suffix = " <> ..." if len(text) > _ELIXIR_PRINTABLE_LIMIT else ""
        return f'"{body}"{suffix}'
    data = text.encode("utf-8", "surrogatepass")
    shown = [str(b) for b in data[:_ELIXIR_LIMIT]]
    if len(data) > _ELIXIR_LIMIT:
        shown.append("...")
    return "<<" + ", ".join(shown) + ">>"


def _inspect_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_inspect_string(item) for item in items) + "]"


_PG_SPACE: Final = " \t\n\r\v\f"


def _parse_array_literal(literal: str) -> list[str | None]:
    """Parse a one-dimensional PostgreSQL array literal (``array_in``) into its elements.

    The server hands ``in.(a,b)`` to Postgres as ``'{a,b}'::type[]``, so quoting, escaping,
    whitespace trimming and unquoted ``NULL`` follow Postgres rules, not PostgREST's.
    Multi-dimensional literals are rejected (Postgres would flatten them; nobody sends them).
    """
    error = ValueError(f'malformed array literal: "{literal}"')
    n = len(literal)
    i = 0
    while i < n and literal[i] in _PG_SPACE:
        i += 1
    if i >= n or literal[i] != "{":
        raise error
    i += 1
    elements: list[str | None] = []
    while True:
        while i < n and literal[i] in _PG_SPACE:
            i += 1
        if i >= n:
            raise error
        if literal[i] == "}" and not elements:
            i += 1
            break
        chars: list[str] = []
        if literal[i] == '"':
            i += 1
            while True:
                if i >= n:
                    raise error
                ch = literal[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise error
                    chars.append(literal[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    chars.append(ch)
                    i += 1
            while i < n and literal[i] in _PG_SPACE:
                i += 1
            elements.append("".join(chars))
        else:
            keep = 0  # length of `chars` up to the last escaped or non-space character
            escaped_any = False
            while i < n and literal[i] not in ",}":
                ch = literal[i]
                if ch in '"{':
                    raise error
                if ch == "\\":
                    if i + 1 >= n:
                        raise error
                    chars.append(literal[i + 1])
                    keep = len(chars)
                    escaped_any = True
                    i += 2
                    continue
                chars.append(ch)
                if ch not in _PG_SPACE:
                    keep = len(chars)
                i += 1
            token = "".join(chars[:keep])
            if not token:
                raise error
            if not escaped_any and token.lower() == "null":
                elements.append(None)
            else:
                elements.append(token)
        if i >= n:
            raise error
        if literal[i] == ",":
            i += 1
            continue
        if literal[i] == "}":
            i += 1
            break
        raise error
    while i < n and literal[i] in _PG_SPACE:
        i += 1
    if i != n:
        raise error
    return elements


# --------------------------------------------------------------------------------------------
# PostgreSQL types: how a text value is read (the type's input function) and compared
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PgType:
    """What this module knows about one PostgreSQL type.

    ``parse`` turns text into a comparison key the way the type's input function would (raising
    ``ValueError``/``ArithmeticError`` where Postgres raises); ``from_json`` does the same for a
    record's JSON value, which the server sees as ``value #>> '{}'``.
    """

    name: str
    parse: Callable[[str], Any]
    from_json: Callable[[object], Any]
    textual: bool = False  # has LIKE and regex operators
    case_insensitive: bool = False  # citext: LIKE and ~ ignore case
    comparable: bool = True  # has = and ordering (json has none)
    boolean: bool = False  # IS TRUE / FALSE / UNKNOWN allowed
    array: bool = False  # `in` on an array column has no `=` operator to use


def _json_text(value: object) -> str:
    """``value #>> '{}'``: the text Postgres casts a record's JSON value from."""
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
        return parse(value if isinstance(value, str) else _json_text(value))

    return from_json


def _make_type(name: str, parse: Callable[[str], Any], **flags: bool) -> _PgType:
    return _PgType(name, parse, _generic_from_json(parse), **flags)


# -- integers ---------------------------------------------------------------------------------

_INT_RE: Final = re.compile(
    r"[ \t\n\r\v\f]*([+-]?)(?:"
    r"(\d+(?:_\d+)*)"
    r"|0[xX](_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)"
    r"|0[oO](_?[0-7]+(?:_[0-7]+)*)"
    r"|0[bB](_?[01]+(?:_[01]+)*)"
    r")[ \t\n\r\v\f]*"
)


def _parse_int_literal(text: str) -> int:
    """Read integer input syntax (int2/4/8 and numeric): blanks, sign, PG 16+ ``_``/0x/0o/0b."""
    m = _INT_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid input syntax for type integer: {text!r}")
    sign, dec, hexa, octa, bina = m.groups()
    if dec is not None:
        number = int(dec.replace("_", ""))
    elif hexa is not None:
        number = int(hexa.replace("_", ""), 16)
    elif octa is not None:
        number = int(octa.replace("_", ""), 8)
    else:
        number = int(bina.replace("_", ""), 2)
    return -number if sign == "-" else number


def _int_parser(bits: int) -> Callable[[str], int]:
    """int2/int4/int8 input: the shared integer syntax plus the type's range check."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def parse(text: str) -> int:
        number = _parse_int_literal(text)
        if not low <= number <= high:
            raise ValueError(f"value {text!r} is out of range for {bits}-bit integer")
        return number

    return parse


def _int_type(name: str, bits: int) -> _PgType:
    parse = _int_parser(bits)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def from_json(value: object) -> int:
        if type(value) is int:  # fast path; bool is excluded on purpose ('true'::int fails)
            if not low <= value <= high:
                raise ValueError("integer out of range")
            return value
        return parse(_json_text(value))

    return _PgType(name, parse, from_json)


# -- numeric and floats -------------------------------------------------------------------------
# Keys are (0, number) or (1, 0) for NaN: Postgres sorts NaN above everything and NaN = NaN,
# unlike IEEE/Python comparisons.

_NAN_KEY: Final = (1, 0)
_NUMERIC_RE: Final = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?)"
    r"[ \t\n\r\v\f]*"
)
_NUMERIC_SPECIAL: Final[Mapping[str, Decimal]] = {
    "infinity": Decimal("Infinity"),
    "+infinity": Decimal("Infinity"),
    "-infinity": Decimal("-Infinity"),
    "inf": Decimal("Infinity"),
    "+inf": Decimal("Infinity"),
    "-inf": Decimal("-Infinity"),
}


def _parse_numeric(text: str) -> tuple[int, Any]:
    m = _NUMERIC_RE.fullmatch(text)
    if m is not None:
        return (0, Decimal(m.group(1).replace("_", "")))
    word = text.strip(_PG_SPACE).lower()
    if word == "nan":
        return _NAN_KEY
    special = _NUMERIC_SPECIAL.get(word)
    if special is not None:
        return (0, special)
    return (0, _parse_int_literal(text))  # PG 16+ accepts 0x/0o/0b for numeric too


def _numeric_from_json(value: object) -> tuple[int, Any]:
    if type(value) is int:
        return (0, value)  # int and Decimal compare and hash exactly
    return _parse_numeric(_json_text(value))


def _float_key(number: float) -> tuple[int, float]:
    return _NAN_KEY if math.isnan(number) else (0, number)


_NONZERO_MANTISSA: Final = re.compile(r"[1-9][0-9_.]*(?:[eE]|$)|\.[0-9]*[1-9]")


def _check_float_range(text: str, number: float, type_name: str) -> float:
    """Postgres rejects literals that overflow to infinity or underflow to zero."""
    if math.isinf(number) and "inf" not in text.lower():
        raise ValueError(f"{text!r} is out of range for type {type_name}")
    if number == 0.0 and _NONZERO_MANTISSA.search(re.split("[eE]", text, maxsplit=1)[0]):
        raise ValueError(f"{text!r} is out of range for type {type_name}")
    return number


def _parse_float8(text: str) -> tuple[int, float]:
    if "_" in text:
        raise ValueError(f"invalid input syntax for type double precision: {text!r}")
    return _float_key(_check_float_range(text, float(text), "double precision"))


def _parse_float4(text: str) -> tuple[int, float]:
    key = _parse_float8(text)
    if key is _NAN_KEY:
        return key
    # Round to single precision so '0.1'::float4 equals a float4 column holding 0.1.
    single = struct.unpack("f", struct.pack("f", key[1]))[0]
    return (0, _check_float_range(text, single, "real"))


def _float8_from_json(value: object) -> tuple[int, float]:
    if type(value) is int or type(value) is float:
        return _float_key(float(value))
    return _parse_float8(_json_text(value))


# -- booleans ---------------------------------------------------------------------------------


def _parse_bool(text: str) -> bool:
    """``boolin``: any prefix of true/false/yes/no, on/off/of, 1/0, case-insensitive."""
    word = text.strip(_PG_SPACE).lower()
    if word:
        if "true".startswith(word) or "yes".startswith(word) or word in ("on", "1"):
            return True
        if "false".startswith(word) or "no".startswith(word) or word in ("of", "off", "0"):
            return False
    raise ValueError(f"invalid input syntax for type boolean: {text!r}")


def _bool_from_json(value: object) -> bool:
    if value is True or value is False:
        return value
    return _parse_bool(_json_text(value))


# -- uuid ---------------------------------------------------------------------------------------

_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}")


def _parse_uuid(text: str) -> str:
    """``uuid_in``: optional braces, optional hyphen after any 4 hex digits; case-insensitive."""
    body = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    if _UUID_RE.fullmatch(body) is None:
        raise ValueError(f"invalid input syntax for type uuid: {text!r}")
    return body.replace("-", "").lower()


# -- date and time ------------------------------------------------------------------------------
# Keys are (0,) for -infinity, (1, value), (2,) for infinity so the specials order correctly.

_NEG_INF: Final = (0,)
_POS_INF: Final = (2,)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _special_datetime(text: str) -> tuple[Any, ...] | None:
    word = text.strip(_PG_SPACE).lower()
    if word in ("infinity", "+infinity"):
        return _POS_INF
    if word == "-infinity":
        return _NEG_INF
    if word == "epoch":
        return (1, _EPOCH)
    return None


def _parse_timestamptz(text: str) -> tuple[Any, ...]:
    special = _special_datetime(text)
    if special is not None:
        return special
    moment = datetime.fromisoformat(text.strip(_PG_SPACE))
    if moment.tzinfo is None:
        # Realtime's database sessions run in UTC, so a zone-less literal is UTC.
        moment = moment.replace(tzinfo=UTC)
    return (1, moment)


def _parse_timestamp(text: str) -> tuple[Any, ...]:
    special = _special_datetime(text)
    if special is not None:
        return (1, _EPOCH.replace(tzinfo=None)) if special[0] == 1 else special
    # `timestamp without time zone` input silently ignores an explicit offset.
    return (1, datetime.fromisoformat(text.strip(_PG_SPACE)).replace(tzinfo=None))


def _parse_date(text: str) -> tuple[Any, ...]:
    special = _special_datetime(text)
    if special is not None:
        return (1, date(1970, 1, 1)) if special[0] == 1 else special
    stripped = text.strip(_PG_SPACE)
    if len(stripped) == 10:
        return (1, date.fromisoformat(stripped))
    return (1, datetime.fromisoformat(stripped).date())  # a time part is accepted and dropped


def _parse_time(text: str) -> time:
    return time.fromisoformat(text.strip(_PG_SPACE)).replace(tzinfo=None)


def _parse_timetz(text: str) -> tuple[int, int]:
    """``timetz`` orders by UTC instant, then by zone: equal only if time AND zone match."""
    moment = time.fromisoformat(text.strip(_PG_SPACE))
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


def _jsonb_from_json(value: object) -> tuple[Any, ...]:
    return _jsonb_key(value)


# -- text ---------------------------------------------------------------------------------------


def _identity(text: str) -> str:
    return text


def _text_type(
    name: str, parse: Callable[[str], str] = _identity, *, case_insensitive: bool = False
) -> _PgType:
    return _make_type(name, parse, textual=True, case_insensitive=case_insensitive)


def _parse_bpchar(text: str) -> str:
    """Cast like ``value::character``: keep ONE character; a trailing blank is insignificant.

    ``check_equality_op`` casts to ``type_::text``, which for bpchar is ``character``, i.e.
    ``char(1)``, so the server compares only the first character of both sides. A server quirk,
    reproduced on purpose.
    """
    return text[:1].rstrip(" ")


# -- arrays -------------------------------------------------------------------------------------

_NULL_ELEMENT: Final = (1,)


def _array_type(element: _PgType) -> _PgType:
    """Build the array type of ``element``: keys compare element-wise, NULLs last, then length."""

    def wrap(key: Any) -> tuple[Any, ...]:
        return (0, key)

    def parse(text: str) -> tuple[Any, ...]:
        return tuple(
            _NULL_ELEMENT if item is None else wrap(element.parse(item))
            for item in _parse_array_literal(text)
        )

    def from_json(value: object) -> tuple[Any, ...]:
        if isinstance(value, list):
            return tuple(
                _NULL_ELEMENT if item is None else wrap(element.from_json(item)) for item in value
            )
        return parse(_json_text(value))

    return _PgType("_" + element.name, parse, from_json, array=True)


# -- registry -----------------------------------------------------------------------------------

_BASE_TYPES: Final[dict[str, _PgType]] = {
    t.name: t
    for t in (
        _int_type("int2", 16),
        _int_type("int4", 32),
        _int_type("int8", 64),
        _PgType("numeric", _parse_numeric, _numeric_from_json),
        _make_type("float4", _parse_float4),
        _PgType("float8", _parse_float8, _float8_from_json),
        _PgType("bool", _parse_bool, _bool_from_json, boolean=True),
        _text_type("text"),
        _text_type("varchar"),
        _text_type("name"),
        _text_type("char"),
        _text_type("bpchar", _parse_bpchar),
        _text_type("citext", str.lower, case_insensitive=True),
        _make_type("uuid", _parse_uuid),
        _make_type("date", _parse_date),
        _make_type("timestamp", _parse_timestamp),
        _make_type("timestamptz", _parse_timestamptz),
        _make_type("time", _parse_time),
        _make_type("timetz", _parse_timetz),
        _PgType("jsonb", _parse_jsonb, _jsonb_from_json),
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
_UNKNOWN_TYPE: Final = _PgType(
    _INFERRED_NULL, _identity, _generic_from_json(_identity), textual=True, boolean=True
)


def _normalize_type_name(name: str) -> str:
    """Map display names (``integer``, ``text[]``, ``varchar(20)``) to ``pg_type.typname``."""
    cleaned = " ".join(re.sub(r"\([^)]*\)", " ", name.strip().lower()).split())
    cleaned = cleaned.removeprefix("pg_catalog.")
    if cleaned.endswith("[]"):
        return "_" + _normalize_type_name(cleaned[:-2].rstrip("[] "))
    return _TYPE_ALIASES.get(cleaned, cleaned)


@lru_cache(maxsize=512)
def _lookup_type(name: str) -> _PgType:
    """Resolve a type name; unknown types (enums, domains, inet, ...) compare as text."""
    if name == _INFERRED_NULL:
        return _UNKNOWN_TYPE
    typname = _normalize_type_name(name)
    if typname.startswith("_") and len(typname) > 1:
        return _array_type(_lookup_type(typname[1:]))
    return _BASE_TYPES.get(typname) or _text_type(typname)


def _infer_type_name(value: object) -> str:
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


# --------------------------------------------------------------------------------------------
# Evaluation: a port of realtime.check_equality_op(op, type, val_1, val_2, negate)
# --------------------------------------------------------------------------------------------

_COMPARATORS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
_CAST_ERRORS: Final = (ValueError, ArithmeticError, TypeError, InvalidOperation, OverflowError)


def _never(_value: object) -> bool:
    return False


def _compile(cond: Condition, pg_type: _PgType) -> Evaluator:
    """Build the predicate for ``cond`` on a column of ``pg_type``.

    Everything that depends only on the filter (casting its value, compiling patterns) happens
    here once. Where Postgres would raise (uncastable value, operator the type lacks) the
    predicate is constant false: the server never delivers such a change either.
    """
    op = cond.op
    negate = cond.negate
    to_key = pg_type.from_json

    if op == "is":
        return _compile_is(cond.value, negate, pg_type)

    if op in ("like", "ilike", "match", "imatch"):
        if not pg_type.textual:
            return _never
        try:
            pattern_text = pg_type.parse(str(cond.value))
            ignore_case = op in ("ilike", "imatch") or pg_type.case_insensitive
            if op in ("like", "ilike"):
                regex = _like_to_regex(pattern_text, ignore_case)
                search = regex.fullmatch
            else:
                regex = _are_to_regex(pattern_text, ignore_case)
                search = regex.search
        except (ValueError, re.error):
            return _never

        def pattern_ev(value: object) -> bool:
            if value is None:
                return False
            try:
                subject = to_key(value)
            except _CAST_ERRORS:
                return False
            return (search(subject) is not None) != negate

        return pattern_ev

    if not pg_type.comparable:
        return _never

    if op == "in":
        if pg_type.array:
            return _never
        items: tuple[str | None, ...] = cond.value if isinstance(cond.value, tuple) else ()
        try:
            keys = [None if item is None else pg_type.parse(item) for item in items]
        except _CAST_ERRORS:
            return _never
        has_null = any(key is None for key in keys)
        members = frozenset(key for key in keys if key is not None)
        if not keys:
            # `x = any('{}')` is false, not NULL, even for a NULL x, so `not.in.()` matches all.
            return _never if not negate else _compile_empty_in(to_key)

        def in_ev(value: object) -> bool:
            if value is None:
                return False
            try:
                key = to_key(value)
            except _CAST_ERRORS:
                return False
            if key in members:
                return not negate
            # `x = any(array)` is NULL, not false, when the array holds a NULL.
            return False if has_null else negate

        return in_ev

    try:
        rhs = pg_type.parse(str(cond.value))
    except _CAST_ERRORS:
        return _never

    if op == "isdistinct":

        def distinct_ev(value: object) -> bool:
            if value is None:
                return not negate
            try:
                return (to_key(value) != rhs) != negate
            except _CAST_ERRORS:
                return False

        return distinct_ev

    compare = _COMPARATORS[op]

    def compare_ev(value: object) -> bool:
        if value is None:
            return False  # NULL compared to anything is NULL, and NOT NULL is NULL too
        try:
            return compare(to_key(value), rhs) != negate
        except _CAST_ERRORS:
            return False

    return compare_ev


def _compile_empty_in(to_key: Callable[[object], Any]) -> Evaluator:
    def not_in_empty_ev(value: object) -> bool:
        if value is None:
            return True
        try:
            to_key(value)
        except _CAST_ERRORS:
            return False
        return True

    return not_in_empty_ev


def _compile_is(target: object, negate: bool, pg_type: _PgType) -> Evaluator:
    """``x IS [NOT] NULL|TRUE|FALSE|UNKNOWN``: two-valued, so ``not.`` flips NULL results too."""
    to_key = pg_type.from_json
    if target is None:

        def is_null_ev(value: object) -> bool:
            if value is None:
                return not negate
            try:
                to_key(value)  # `'abc'::int4 IS NULL` still fails on the cast
            except _CAST_ERRORS:
                return False
            return negate

        return is_null_ev

    if not pg_type.boolean:
        return _never  # IS TRUE/FALSE/UNKNOWN needs a boolean operand

    def is_bool_ev(value: object) -> bool:
        if value is None:
            return (target == "unknown") != negate
        try:
            key = to_key(value)
        except _CAST_ERRORS:
            return False
        return (key is target) != negate

    return is_bool_ev


def _like_to_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    r"""Compile SQL LIKE to an anchored regex: ``%`` any run, ``_`` one char, ``\`` escapes.

    The server passes the value to LIKE untouched, so PostgREST's ``*`` alias for ``%`` does
    not apply: ``*`` is a literal asterisk.
    """
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError("LIKE pattern must not end with escape character")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            if not out or out[-1] != ".*":  # collapse %% to avoid needless backtracking
                out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(out), flags)


_POSIX_CLASSES: Final[Mapping[str, str]] = {
    "alnum": r"0-9A-Za-z",
    "alpha": r"A-Za-z",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": r"0-9",
    "graph": r"\x21-\x7e",
    "lower": r"a-z",
    "print": r"\x20-\x7e",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "space": r" \t\n\r\f\v",
    "upper": r"A-Z",
    "word": r"\w",
    "xdigit": r"0-9A-Fa-f",
}
_ARE_ESCAPES: Final[Mapping[str, str]] = {
    "m": r"\b(?=\w)",
    "M": r"\b(?<=\w)",
    "y": r"\b",
    "Y": r"\B",
    "e": r"\x1b",
    "a": r"\x07",
}


def _are_to_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    r"""Translate a PostgreSQL ARE (``~`` / ``~*``) into an equivalent Python regex.

    Covers what differs in practice: ``$`` only matches at the very end, ``.`` matches
    newlines, ``\m``/``\M``/``\y`` word boundaries, ``[[:class:]]`` and the ``***=``
    literal prefix. Unsupported syntax surfaces as ``re.error`` (treated as "never matches",
    where Postgres would have refused the subscription).
    """
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if pattern.startswith("***="):
        return re.compile(re.escape(pattern[4:]), flags)
    pattern = pattern.removeprefix("***:")
    m = re.match(r"\(\?([a-z]+)\)", pattern)
    if m is not None:
        for letter in m.group(1):
            if letter == "i":
                flags |= re.IGNORECASE
            elif letter == "c":
                flags &= ~re.IGNORECASE
            elif letter == "x":
                flags |= re.VERBOSE
            elif letter != "s":
                raise re.error(f"unsupported embedded option {letter!r}")
        pattern = pattern[m.end() :]
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise re.error("trailing backslash")
            nxt = pattern[i + 1]
            out.append(_ARE_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == "[":
            i = _translate_bracket(pattern, i, out)
        elif ch == "$":
            out.append(r"\Z")
            i += 1
        else:
            out.append(ch)
            i += 1
    return re.compile("".join(out), flags)


def _translate_bracket(pattern: str, start: int, out: list[str]) -> int:
    """Copy the bracket expression at ``start`` into ``out``; return the index after it."""
    i = start + 1
    n = len(pattern)
    parts = ["["]
    if i < n and pattern[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while i < n:
        ch = pattern[i]
        if ch == "]" and not first:
            parts.append("]")
            out.append("".join(parts))
            return i + 1
        first = False
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end < 0 or pattern[i + 2 : end] not in _POSIX_CLASSES:
                raise re.error("invalid character class")
            parts.append(_POSIX_CLASSES[pattern[i + 2 : end]])
            i = end + 2
        elif pattern.startswith(("[.", "[="), i):
            close = pattern[i + 1] + "]"
            end = pattern.find(close, i + 2)
            if end < 0:
                raise re.error("invalid collating element")
            parts.append(re.escape(pattern[i + 2 : end]))
            i = end + 2
        elif ch == "\\" and i + 1 < n:
            parts.append("\\" + pattern[i + 1])
            i += 2
        elif ch in "[&~|]":
            parts.append("\\" + ch)  # literal in POSIX brackets; special or reserved in Python
            i += 1
        else:
            parts.append(ch)
            i += 1
    raise re.error("brackets [] not balanced")
