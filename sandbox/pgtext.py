"""PostgreSQL's text formats, read in one place.

Two parts of the sandbox read values that PostgreSQL writes as text. The WAL decoder
(`pgoutput`) gets every column as its type's text output and must turn it into the JSON value
Supabase's `to_jsonb()` would produce. The postgres_changes filters (`filters`) must read a
filter's value the way the column type's input function would, to compare like the server does.
Both need the same array literal grammar and the same readers for numbers, booleans, uuids and
times, so those live here, once, and neither side carries a private copy.

Readers raise `ValueError` (or `ArithmeticError`) where PostgreSQL's input function raises.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, Final

Converter = Callable[[str], Any]
"""Turns the text output of one column value into its JSON-compatible value."""

SPACE: Final = " \t\n\r\v\f"  # what PostgreSQL's scanners count as white space


# --------------------------------------------------------------------------------------------
# Array literals (array_in / array_out)
# --------------------------------------------------------------------------------------------


class ArrayLiteralError(ValueError):
    """Text that `array_in` refuses; the message is PostgreSQL's own wording."""


_UNESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_START, _OPEN, _ITEM, _AFTER, _DONE, _BAD = range(6)


_SPACE_RE: Final = r"[ \t\n\r\v\f]*"
_QUOTED_RE: Final = r'"((?:[^"\\]|\\.)*)"'


def _bare_re(delimiter: str) -> str:
    """An unquoted element: trimmed, with backslash escapes keeping what they escape."""
    atom = rf'(?:[^{{}}"\\{re.escape(delimiter)} \t\n\r\v\f]|\\.)'
    return rf"({atom}(?:{_SPACE_RE}{atom})*)"


@lru_cache(maxsize=4)
def _array_tokens(delimiter: str) -> re.Pattern[str]:
    """One token of an array literal with the white space around it: `{`, `}`, the delimiter, a
    quoted element, or an unquoted element."""
    d, sp = re.escape(delimiter), _SPACE_RE
    return re.compile(
        rf"{sp}(?:(\{{)|(\}})|({d})|{_QUOTED_RE}|{_bare_re(delimiter)}){sp}", re.DOTALL
    )


@lru_cache(maxsize=4)
def _flat_array(delimiter: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A whole one-dimensional literal, and its elements: the common case, read by the regex
    engine in two passes instead of token by token (WAL decoding reads one per array value)."""
    d, sp, bare = re.escape(delimiter), _SPACE_RE, _bare_re(delimiter)
    element = rf'(?:"(?:[^"\\]|\\.)*"|{bare.replace("(", "(?:", 1)})'
    whole = rf"{sp}\{{{sp}(?:{element}{sp}(?:{d}{sp}{element}{sp})*)?\}}{sp}"
    return re.compile(whole, re.DOTALL), re.compile(rf"{_QUOTED_RE}|{bare}", re.DOTALL)


def parse_array(text: str, convert: Converter | None = None, delimiter: str = ",") -> list[Any]:
    """Read an array literal (`{1,2}`, `{{"a b",NULL},{c,d}}`) into nested lists.

    The grammar is `array_in`'s, which also covers everything `array_out` writes: elements are
    quoted or bare, bare ones are trimmed, only a bare unescaped `NULL` (any case) is SQL NULL,
    and anything after the closing brace is an error. A leading dimension decoration such as
    `[0:2]=` is dropped, as `to_jsonb()` drops lower bounds. `convert` is applied to every
    non-NULL element.
    """
    body = text
    if text[:1] == "[":
        eq = text.find("=")
        if eq < 0:
            raise ArrayLiteralError(f'malformed array literal: "{text}"')
        body = text[eq + 1 :]
    whole, elements = _flat_array(delimiter)
    if whole.fullmatch(body) is not None:
        return [_element(q or b, not b, convert) for q, b in elements.findall(body)]
    match = _array_tokens(delimiter).match
    root: list[Any] = []
    stack: list[list[Any]] = []
    state = _START
    pos, end = 0, len(body)
    while pos < end and state < _DONE:
        m = match(body, pos)
        if m is None:
            break
        pos = m.end()
        state = _step(state, m, stack, root, convert)
    if state != _DONE or pos != end:
        raise ArrayLiteralError(f'malformed array literal: "{text}"')
    return root


def _step(
    state: int, m: re.Match[str], stack: list[list[Any]], root: list[Any], convert: Converter | None
) -> int:
    """Apply one token to the nesting `stack`; the next state, or `_BAD` for a misplaced token."""
    kind = m.lastindex
    if kind == 1:  # `{`
        if state == _START:
            child = root
        elif state in (_OPEN, _ITEM):
            child = []
            stack[-1].append(child)
        else:
            return _BAD
        stack.append(child)
        return _OPEN
    if kind == 2:  # `}`
        if state not in (_OPEN, _AFTER):
            return _BAD
        stack.pop()
        return _AFTER if stack else _DONE
    if kind == 3:  # delimiter
        return _ITEM if state == _AFTER else _BAD
    if state not in (_OPEN, _ITEM):
        return _BAD
    stack[-1].append(_element(m.group(kind), kind == 4, convert))  # type: ignore[arg-type]
    return _AFTER


def _element(raw: str, quoted: bool, convert: Converter | None) -> Any:
    if "\\" in raw:
        value = _UNESCAPE.sub(r"\1", raw)
    elif not quoted and len(raw) == 4 and raw.upper() == "NULL":
        return None
    else:
        value = raw
    return value if convert is None else convert(value)


# --------------------------------------------------------------------------------------------
# Input syntax of scalar types, as their input functions read it
# --------------------------------------------------------------------------------------------

_INT_RE: Final = re.compile(
    r"[ \t\n\r\v\f]*([+-]?)(?:"
    r"(\d+(?:_\d+)*)"
    r"|0[xX](_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)"
    r"|0[oO](_?[0-7]+(?:_[0-7]+)*)"
    r"|0[bB](_?[01]+(?:_[01]+)*)"
    r")[ \t\n\r\v\f]*"
)


def read_int_literal(text: str) -> int:
    """Integer input syntax (int2/4/8 and numeric): blanks, sign, PG 16+ `_`, 0x, 0o and 0b."""
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


def read_int(text: str, bits: int) -> int:
    """int2/int4/int8 input: the shared integer syntax plus the type's range check."""
    number = read_int_literal(text)
    if not -(1 << (bits - 1)) <= number <= (1 << (bits - 1)) - 1:
        raise ValueError(f"value {text!r} is out of range for {bits}-bit integer")
    return number


_NUMERIC_RE: Final = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?)"
    r"[ \t\n\r\v\f]*"
)
_NUMERIC_SPECIAL: Final = {
    "nan": Decimal("NaN"),
    "infinity": Decimal("Infinity"),
    "+infinity": Decimal("Infinity"),
    "-infinity": Decimal("-Infinity"),
    "inf": Decimal("Infinity"),
    "+inf": Decimal("Infinity"),
    "-inf": Decimal("-Infinity"),
}


def read_numeric(text: str) -> Decimal | int:
    """numeric input: decimals with `_` separators, NaN and infinities, and (PG 16+) 0x/0o/0b."""
    m = _NUMERIC_RE.fullmatch(text)
    if m is not None:
        return Decimal(m.group(1).replace("_", ""))
    special = _NUMERIC_SPECIAL.get(text.strip(SPACE).lower())
    if special is not None:
        return special
    return read_int_literal(text)


_NONZERO_MANTISSA: Final = re.compile(r"[1-9][0-9_.]*(?:[eE]|$)|\.[0-9]*[1-9]")


def _float_in_range(text: str, number: float, type_name: str) -> float:
    """PostgreSQL rejects literals that overflow to infinity or underflow to zero."""
    if math.isinf(number) and "inf" not in text.lower():
        raise ValueError(f"{text!r} is out of range for type {type_name}")
    if number == 0.0 and _NONZERO_MANTISSA.search(re.split("[eE]", text, maxsplit=1)[0]):
        raise ValueError(f"{text!r} is out of range for type {type_name}")
    return number


def read_float8(text: str) -> float:
    if "_" in text:
        raise ValueError(f"invalid input syntax for type double precision: {text!r}")
    return _float_in_range(text, float(text), "double precision")


def read_float4(text: str) -> float:
    """float4 input, rounded to single precision so `'0.1'::float4` equals a stored 0.1."""
    number = read_float8(text)
    if math.isnan(number):
        return number
    single = struct.unpack("f", struct.pack("f", number))[0]
    return _float_in_range(text, single, "real")


def read_bool(text: str) -> bool:
    """`boolin`: any prefix of true/false/yes/no, on/off/of, 1/0, case-insensitive."""
    word = text.strip(SPACE).lower()
    if word:
        if "true".startswith(word) or "yes".startswith(word) or word in ("on", "1"):
            return True
        if "false".startswith(word) or "no".startswith(word) or word in ("of", "off", "0"):
            return False
    raise ValueError(f"invalid input syntax for type boolean: {text!r}")


_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}")


def read_uuid(text: str) -> str:
    """`uuid_in`: optional braces, optional hyphen after any 4 hex digits; returned as 32
    lower-case hex digits, so two spellings of one uuid compare equal."""
    body = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    if _UUID_RE.fullmatch(body) is None:
        raise ValueError(f"invalid input syntax for type uuid: {text!r}")
    return body.replace("-", "").lower()


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _infinity(text: str) -> str | None:
    """ "infinity" or "-infinity" for those special inputs (`epoch` is handled by the caller)."""
    word = text.strip(SPACE).lower()
    if word in ("infinity", "+infinity"):
        return "infinity"
    if word == "-infinity":
        return "-infinity"
    return None


def read_timestamptz(text: str) -> datetime | str:
    """An aware datetime, or the strings "infinity" / "-infinity"."""
    special = _infinity(text)
    if special is not None:
        return special
    stripped = text.strip(SPACE)
    if stripped.lower() == "epoch":
        return EPOCH
    moment = datetime.fromisoformat(stripped)
    # Realtime's database sessions run in UTC, so a zone-less literal is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def read_timestamp(text: str) -> datetime | str:
    """A naive datetime (an explicit offset is silently ignored, as PostgreSQL does)."""
    special = _infinity(text)
    if special is not None:
        return special
    stripped = text.strip(SPACE)
    if stripped.lower() == "epoch":
        return EPOCH.replace(tzinfo=None)
    return datetime.fromisoformat(stripped).replace(tzinfo=None)


def read_date(text: str) -> date | str:
    special = _infinity(text)
    if special is not None:
        return special
    stripped = text.strip(SPACE)
    if stripped.lower() == "epoch":
        return date(1970, 1, 1)
    if len(stripped) == 10:
        return date.fromisoformat(stripped)
    return datetime.fromisoformat(stripped).date()  # a time part is accepted and dropped


def read_time(text: str) -> time:
    return time.fromisoformat(text.strip(SPACE)).replace(tzinfo=None)


def read_timetz(text: str) -> time:
    return time.fromisoformat(text.strip(SPACE))


# --------------------------------------------------------------------------------------------
# Text output -> the JSON value to_jsonb() gives (for the WAL decoder)
# --------------------------------------------------------------------------------------------

# float/numeric specials: JSON has no representation, to_jsonb() emits strings.
_NON_FINITE: Final = frozenset({"NaN", "Infinity", "-Infinity"})


def _to_bool(text: str) -> bool:
    return text == "t"


def _to_float(text: str) -> float | str:
    return text if text in _NON_FINITE else float(text)


def _to_numeric(text: str) -> int | float | str:
    """Keep integral numerics exact as `int`; fractional ones become `float`."""
    if text in _NON_FINITE:
        return text
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _iso_datetime(text: str, *, with_zone: bool) -> str:
    """Rewrite ISO DateStyle output into the ISO 8601 form `to_jsonb()` emits.

    `to_jsonb()` uses a `T` separator and always writes the zone as `+HH:MM`, whereas the text
    output abbreviates a whole-hour offset to `+HH`. `infinity`/`-infinity` pass through; a
    trailing ` BC` era is kept as `to_jsonb()` keeps it.
    """
    if text[-1] == "y":  # infinity / -infinity
        return text
    era = ""
    if text[-1] == "C":
        text, era = text[:-3], text[-3:]
    text = text.replace(" ", "T", 1)
    if with_zone and text[-3] in "+-":
        text += ":00"
    return text + era


_JSONB_CONVERTERS: Final[dict[str, Converter]] = {
    "bool": _to_bool,
    "int2": int,
    "int4": int,
    "int8": int,
    "float4": _to_float,
    "float8": _to_float,
    "numeric": _to_numeric,
    "json": json.loads,
    "jsonb": json.loads,
    "timestamp": partial(_iso_datetime, with_zone=False),
    "timestamptz": partial(_iso_datetime, with_zone=True),
}


@lru_cache(maxsize=1024)
def converter_for(type_name: str) -> Converter | None:
    """The converter for a pg `typname`, or `None` when the text is the value.

    Returning `None` (instead of an identity function) lets the tuple reader skip a call per
    value for the many text-like types. Array types are recognised by PostgreSQL's
    `_<element>` naming convention; `oid` and `xid` stay text, as `to_jsonb()` leaves them.
    """
    if type_name.startswith("_") and len(type_name) > 1:
        element = type_name[1:]
        # box is the only built-in type whose array delimiter is not a comma.
        delimiter = ";" if element == "box" else ","
        return partial(parse_array, convert=_JSONB_CONVERTERS.get(element), delimiter=delimiter)
    return _JSONB_CONVERTERS.get(type_name)
