"""Parse a postgres_changes `filter` string exactly as Supabase Realtime's server does.

A port of `parse_subscription_params/1` and friends in the server's
`lib/extensions/postgres_cdc_rls/subscriptions.ex` (supabase/realtime 2.129.x), byte for byte,
including its error text, which clients show to users verbatim (`split_filter`); plus the checks
`realtime.subscription_check_filters` makes when the subscription is stored (bad `is` values,
malformed or oversized `in` lists), whose errors are reported differently (`compile_filter`; the
sandbox runs the trigger's own checks in SQL first, see `sandbox.subscriptions`). `inspect_term`
renders terms as Elixir's `inspect/2` does, for the server's messages that quote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from ..pgtext import parse_array
from .evaluate import Condition, Filter

__all__ = [
    "IS_VALUES",
    "MAX_IN_VALUES",
    "OPERATORS",
    "FilterError",
    "FilterRejectedError",
    "RawCondition",
    "compile_filter",
    "inspect_term",
    "parse_filter",
    "split_filter",
]

#: Operators the server accepts, in the order of its `@filter_types` list.
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

#: The only right-hand sides `is` accepts (case-sensitive, as in the server's trigger),
#: mapped to the Python value stored in :attr:`Condition.value`.
IS_VALUES: Final[Mapping[str, object]] = {
    "null": None,
    "true": True,
    "false": False,
    "unknown": "unknown",
}

#: `realtime.subscription_check_filters` rejects longer `in` lists.
MAX_IN_VALUES: Final = 100

_PARAMS_ERROR_PREFIX: Final = "Error parsing `filter` params: "
_EMPTY_SEGMENT: Final = "filter must not contain empty segments (check for extra commas)"
_IN_NEEDS_PARENS: Final = "`in` filter value must be wrapped by parentheses"
_BAD_IS_VALUE: Final = "invalid value for is filter: must be null, true, false, or unknown"
_TOO_MANY_IN: Final = "too many values for `in` filter. Maximum 100"


class FilterError(ValueError):
    """A filter the server refuses.

    `message` is exactly the text the server puts in its error reply, so the emulator can
    forward it unchanged (clients surface it to users and some tests assert on it).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FilterRejectedError(FilterError):
    """A filter the Elixir parser accepts but Postgres rejects when the subscription is stored.

    `message` is the bare Postgres exception text raised by
    `realtime.subscription_check_filters` (e.g. a bad `is` value or too many `in`
    values). The server wraps it in its "Unable to subscribe to changes ..." reply, which needs
    context (schema, table, ...) this module does not have, hence the separate class.
    """


class RawCondition(NamedTuple):
    """One condition as the server stores it in `realtime.subscription.filters`: the `in` list as
    a PostgreSQL array literal (`{a,b}`), every other value unquoted but not yet typed."""

    column: str
    op: str
    value: str
    negate: bool


def split_filter(text: str | None) -> tuple[RawCondition, ...]:
    """The Elixir half alone: `parse_subscription_params/1`'s split and syntax checks, raising
    :class:`FilterError` with its message. What the subscription trigger checks (columns, types,
    `is` values, `in` lists) is left to the database, as on the server."""
    if text is None or not text.strip():
        return ()
    return tuple(_split_segment(segment) for segment in _split_top_level(text.strip()))


def parse_filter(text: str | None) -> Filter:
    """Parse a `filter` string as the server does.

    `None`, empty and whitespace-only filters mean "no filter". Raises :class:`FilterError`
    with the server's exact message for filters `parse_subscription_params/1` refuses, and
    :class:`FilterRejectedError` for ones the subscription trigger refuses regardless of the
    table (bad `is` value, malformed or oversized `in` list).
    """
    return compile_filter(split_filter(text))


def compile_filter(conditions: Iterable[RawCondition]) -> Filter:
    """Stored conditions made evaluable (`in` lists read, `is` values mapped); raises
    :class:`FilterRejectedError` where the subscription trigger would refuse them."""
    return Filter(tuple(_condition(raw) for raw in conditions))


def _split_segment(segment: str) -> RawCondition:
    """Split one comma-separated condition; mirrors `parse_segment/1`."""
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
    if op == "in":
        if len(raw_value) < 2 or raw_value[0] != "(" or raw_value[-1] != ")":
            raise FilterError(_PARAMS_ERROR_PREFIX + _IN_NEEDS_PARENS)
        return RawCondition(column, op, "{" + raw_value[1:-1] + "}", negate)
    return RawCondition(column, op, _unquote(raw_value), negate)


def _condition(raw: RawCondition) -> Condition:
    """A stored condition made evaluable: `in` lists read, `is` values mapped."""
    value: object = raw.value
    if raw.op == "in":
        elements = _in_list(raw.value)
        if len(elements) > MAX_IN_VALUES:
            raise FilterRejectedError(_TOO_MANY_IN)
        value = tuple(elements)
    elif raw.op == "is":
        if raw.value not in IS_VALUES:
            raise FilterRejectedError(_BAD_IS_VALUE)
        value = IS_VALUES[raw.value]
    return Condition(raw.column, raw.op, value, raw.negate)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes; mirrors `split_top_level/6`.

    As on the server, a double quote only opens a quoted run right after `.`, `(` or `,`
    (so `O"Brien` stays literal), and a backslash inside quotes escapes the next character.
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
    """Strip one pair of surrounding double quotes and backslash escapes (`unquote_value/1`).

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
    """Render `text` as Elixir's `inspect/1` does with default options."""
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


_PRETTY_WIDTH: Final = 80


def inspect_term(value: Any, pretty: bool = True) -> str:
    """`inspect(value[, pretty: true])` for the JSON-like terms the server puts in its messages:
    strings, numbers, booleans, nil, lists, tuples and maps with string keys (sorted, as Elixir
    prints small maps). Pretty, past 80 columns the outer list or map puts one element per line,
    which is how Elixir's pretty printer lays out the short terms these messages hold."""
    flat = _inspect_flat(value)
    if not pretty or len(flat) <= _PRETTY_WIDTH or not isinstance(value, (list, dict)) or not value:
        return flat
    opening, closing = ("[", "]") if isinstance(value, list) else ("%{", "}")
    return opening + "\n" + ",\n".join("  " + item for item in _items(value)) + "\n" + closing


def _items(value: list[Any] | dict[str, Any]) -> list[str]:
    if isinstance(value, list):
        return [_inspect_flat(v) for v in value]
    return [f"{_inspect_string(k)} => {_inspect_flat(value[k])}" for k in sorted(value)]


def _inspect_flat(value: Any) -> str:
    if value is None:
        return "nil"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return _inspect_string(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(_inspect_flat(v) for v in value) + "}"
    if isinstance(value, (list, dict)):
        opening, closing = ("[", "]") if isinstance(value, list) else ("%{", "}")
        return opening + ", ".join(_items(value)) + closing
    return _inspect_string(str(value))


def _in_list(literal: str) -> list[str | None]:
    """The elements of `in.(...)`, which the server hands to PostgreSQL as `'{...}'::type[]`, so
    quoting, escaping, trimming and unquoted `NULL` follow `array_in`, not PostgREST. Nested
    lists are refused (PostgreSQL would flatten them; nobody sends them)."""
    try:
        elements = parse_array(literal)
    except ValueError as exc:
        raise FilterRejectedError(str(exc)) from None
    if any(isinstance(item, list) for item in elements):
        raise FilterRejectedError(f'malformed array literal: "{literal}"')
    return elements
