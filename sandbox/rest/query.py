"""Parse a PostgREST query string into a plan: select list, filters, order, limit and offset.

Pure: no I/O and no catalog. `parse(pairs)` takes the query string's (key, value) pairs in order
(as `request.query.items()` yields them, already percent-decoded) and returns a `Plan`, or raises
`RestError` with PostgREST's code and wording (`PGRST100` for a parameter its parser refuses,
`PGRST108` for an embedded-resource parameter, `PGRST200` for an embed in `select`).

Grammar covered (what supabase-js and supabase-py send):

* `select=*`, `select=a,b`, `alias:col`, `col::type`, `col->key->>key`; embeds `rel(...)` refused;
* filters `col=[not.]op.value` with `eq neq gt gte lt lte like ilike match imatch is isdistinct
  in cs cd ov` (`in.(a,"b,c")`; `like` accepts `*` for `%`; `is` takes null/not_null/true/false/
  unknown), JSON paths on the column (`data->>k=eq.v`);
* logic trees `or=(a.eq.1,and(b.gt.2,c.is.null))`, `and=(...)`, `not.or=(...)`;
* `order=a.desc.nullslast,b`, `limit=N`, `offset=N`;
* write parameters `columns="a","b"` and `on_conflict=a,b`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import RestError, no_relationship, not_embedded, parse_error

OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "like",
    "ilike": "ilike",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "is distinct from",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
}
LIST_OPERATORS = {"in"}
IS_VALUES = {"null", "not_null", "true", "false", "unknown"}
ALL_OPERATORS = sorted([*OPERATORS, "in", "is"])
EXPECTING = 'expecting "not" or operator (' + ", ".join(ALL_OPERATORS) + ")"

RESERVED = {"select", "order", "limit", "offset", "columns", "on_conflict", "apikey"}
LOGIC_KEYS = {"or", "and", "not.or", "not.and"}
EMBED_PARAMS = {"order", "limit", "offset", "or", "and", "select"}
CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[\])?$")


@dataclass(frozen=True)
class Field:
    """A column, optionally followed by a JSON path: `data->a->>b` is ("data", (("->","a"),
    ("->>","b")))."""

    name: str
    path: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The output name PostgREST gives it: the column, or the path's last key."""
        return self.path[-1][1] if self.path else self.name

    @property
    def as_text(self) -> bool:
        return bool(self.path) and self.path[-1][0] == "->>"


@dataclass(frozen=True)
class SelectItem:
    field: Field | None  # None is `*`
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class Filter:
    field: Field
    op: str  # a key of OPERATORS, or "in" / "is"
    value: str | tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Logic:
    op: str  # "and" / "or"
    items: tuple[Filter | Logic, ...]
    negate: bool = False


@dataclass(frozen=True)
class Order:
    field: Field
    desc: bool = False
    nulls: str | None = None  # "first" / "last"


STAR = (SelectItem(None),)


@dataclass
class Plan:
    select: tuple[SelectItem, ...] = STAR
    where: list[Filter | Logic] = field(default_factory=list)
    order: tuple[Order, ...] = ()
    limit: int | None = None
    offset: int | None = None
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None

    def fields(self) -> Iterable[Field]:
        """Every column the plan reads, for validation against the catalog."""
        for item in self.select:
            if item.field is not None:
                yield item.field
        for cond in self.where:
            yield from _condition_fields(cond)
        for o in self.order:
            yield o.field


def _condition_fields(cond: Filter | Logic) -> Iterable[Field]:
    if isinstance(cond, Filter):
        yield cond.field
    else:
        for item in cond.items:
            yield from _condition_fields(item)


# --- lexing helpers --------------------------------------------------------------------------


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and double quotes (backslash escapes in quotes)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    current: list[str] = []
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def unquote(text: str) -> str:
    """`"a\\"b"` → `a"b`; anything not wrapped in double quotes is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _split_field(text: str) -> tuple[str, str]:
    """Split `field.rest` at the first dot outside double quotes."""
    quoted = False
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            return text[:i], text[i + 1 :]
    return text, ""


def parse_field(text: str, what: str = "field") -> Field:
    """`col`, `"my col"`, `data->a->>b`, `arr->0`."""
    text = text.strip()
    if not text:
        raise parse_error(
            what, text, 'unexpected end of input expecting field name (* or [a..z0..9_$"])'
        )
    parts = re.split(r"(->>|->)", text)
    name = unquote(parts[0])
    if not name:
        raise parse_error(what, text, 'unexpected "-" expecting field name')
    path: list[tuple[str, str]] = []
    for i in range(1, len(parts), 2):
        key = unquote(parts[i + 1]) if i + 1 < len(parts) else ""
        if not key:
            raise parse_error(what, text, "unexpected end of input expecting json key")
        path.append((parts[i], key))
    return Field(name, tuple(path))


# --- select ----------------------------------------------------------------------------------


def parse_select(text: str, *, schema: str = "public", table: str = "") -> tuple[SelectItem, ...]:
    text = text.strip()
    if not text:
        return STAR
    items: list[SelectItem] = []
    for raw in split_top(text):
        raw = raw.strip()
        if raw == "*":
            items.append(SelectItem(None))
            continue
        if "(" in raw and not raw.startswith('"'):
            target = raw.split("(", 1)[0].lstrip(".")
            target = target.split(":")[-1].split("!")[0]
            raise no_relationship(schema, table, target or raw)
        if raw.startswith("..."):
            raise no_relationship(schema, table, raw[3:])
        alias = None
        m = re.match(r'^([^:"]+|"(?:[^"\\]|\\.)*"):(?!:)(.*)$', raw)
        if m:
            alias, raw = unquote(m.group(1)), m.group(2)
        cast = None
        if "::" in raw:
            raw, cast = raw.rsplit("::", 1)
            if not CAST.match(cast):
                raise parse_error("select", text, f'unexpected "{cast[:1]}" expecting type name')
        items.append(SelectItem(parse_field(raw, "select"), alias, cast))
    return tuple(items)


# --- filters ---------------------------------------------------------------------------------


def _parse_list(text: str, whole: str) -> tuple[str, ...]:
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error("filter", whole, 'unexpected end of input expecting "("')
    inner = text[1:-1]
    if inner.strip() == "":
        return ()
    return tuple(unquote(v) for v in split_top(inner))


def parse_operation(text: str, whole: str | None = None, *, nested: bool = False) -> Filter:
    """`[not.]op.value` into a Filter with a placeholder field (the caller sets it)."""
    whole = whole if whole is not None else text
    negate = False
    rest = text
    if rest.startswith("not."):
        negate, rest = True, rest[4:]
    op, sep, value = rest.partition(".")
    if not sep or (op not in OPERATORS and op not in LIST_OPERATORS and op != "is"):
        column = len(whole) - len(rest) + 1
        bad = op[:1] if op else (rest[:1] or "end of input")
        raise parse_error("filter", whole, f'unexpected "{bad}" {EXPECTING}', column)
    if op == "in":
        return Filter(Field(""), op, _parse_list(value, whole), negate)
    if op == "is":
        if value.lower() not in IS_VALUES:
            raise parse_error(
                "filter",
                whole,
                f'unexpected "{value[:1] or "end of input"}" expecting null, not_null, '
                "true, false or unknown",
                len(whole) - len(value) + 1,
            )
        return Filter(Field(""), op, value.lower(), negate)
    if nested:
        value = unquote(value)
    return Filter(Field(""), op, value, negate)


def _with_field(f: Filter, fld: Field) -> Filter:
    return Filter(fld, f.op, f.value, f.negate)


def parse_filter(key: str, value: str) -> Filter:
    fld = parse_field(key, "filter")
    return _with_field(parse_operation(value), fld)


def parse_logic(key: str, value: str) -> Logic:
    """`or=(a.eq.1,and(b.gt.2,c.lt.3))` with key `or`/`and`/`not.or`/`not.and`."""
    negate = key.startswith("not.")
    op = key[4:] if negate else key
    whole = f"{op}={value}"
    if not (value.startswith("(") and value.endswith(")")):
        raise parse_error("logic tree", whole, 'unexpected end of input expecting "("')
    return Logic(op, _logic_items(value[1:-1], whole), negate)


# Trees are parsed and turned into SQL recursively: a query string of `and(and(...` a few
# thousand deep would end in RecursionError (a 500). PostgREST sets no limit; nobody needs this
# one, which only turns that 500 into a 400.
MAX_LOGIC_DEPTH = 64


def _logic_items(text: str, whole: str, depth: int = 1) -> tuple[Filter | Logic, ...]:
    if depth > MAX_LOGIC_DEPTH:
        raise parse_error(
            "logic tree",
            whole,
            f"nested deeper than {MAX_LOGIC_DEPTH} levels (the sandbox's limit)",
        )
    items: list[Filter | Logic] = []
    for raw in split_top(text):
        raw = raw.strip()
        m = re.match(r"^(not\.)?(and|or)\((.*)\)$", raw, re.S)
        if m:
            inner = _logic_items(m.group(3), whole, depth + 1)
            items.append(Logic(m.group(2), inner, bool(m.group(1))))
            continue
        name, rest = _split_field(raw)
        if not rest:
            raise parse_error("logic tree", whole, f"unexpected end of input {EXPECTING}")
        fld = parse_field(name, "logic tree")
        items.append(_with_field(parse_operation(rest, whole, nested=True), fld))
    if not items:
        raise parse_error("logic tree", whole, "unexpected end of input expecting filter")
    return tuple(items)


# --- order, limit, offset, column lists ------------------------------------------------------


def parse_order(text: str) -> tuple[Order, ...]:
    out: list[Order] = []
    for raw in split_top(text):
        raw = raw.strip()
        if not raw:
            raise parse_error("order", text, "unexpected end of input expecting field name")
        name, rest = _split_field(raw)
        desc = False
        nulls = None
        for mod in rest.split(".") if rest else []:
            if mod in ("asc", "desc"):
                desc = mod == "desc"
            elif mod in ("nullsfirst", "nullslast"):
                nulls = mod[5:]
            else:
                raise parse_error(
                    "order",
                    text,
                    f'unexpected "{mod[:1] or "."}" expecting "asc", "desc", "nullsfirst" '
                    'or "nullslast"',
                )
        out.append(Order(parse_field(name, "order"), desc, nulls))
    return tuple(out)


def parse_count(what: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):  # "²".isdigit() is true, int("²") raises
        raise parse_error(
            f"{what} parameter", text, f'unexpected "{text[:1] or "end of input"}" expecting digit'
        )
    return int(text)


def parse_columns(text: str, what: str = "columns") -> tuple[str, ...]:
    cols = tuple(unquote(c.strip()) for c in split_top(text))
    if any(not c for c in cols):
        raise parse_error(what, text, "unexpected end of input expecting field name")
    return cols


# --- the whole query string ------------------------------------------------------------------


def parse(pairs: Iterable[tuple[str, str]], *, schema: str = "public", table: str = "") -> Plan:
    plan = Plan()
    for key, value in pairs:
        if key == "select":
            plan.select = parse_select(value, schema=schema, table=table)
        elif key == "order":
            plan.order = plan.order + parse_order(value)
        elif key == "limit":
            plan.limit = parse_count("limit", value)
        elif key == "offset":
            plan.offset = parse_count("offset", value)
        elif key == "columns":
            plan.columns = parse_columns(value)
        elif key == "on_conflict":
            plan.on_conflict = parse_columns(value, "on_conflict")
        elif key == "apikey":
            continue  # the gateway's key-in-URL, not a filter
        elif key in LOGIC_KEYS:
            plan.where.append(parse_logic(key, value))
        elif "." in key and not key.startswith('"') and key.rsplit(".", 1)[1] in EMBED_PARAMS:
            raise not_embedded(key.rsplit(".", 1)[0].removeprefix("not."))
        else:
            plan.where.append(parse_filter(key, value))
    return plan


__all__ = [
    "Field",
    "Filter",
    "Logic",
    "Order",
    "Plan",
    "RestError",
    "SelectItem",
    "parse",
    "parse_filter",
    "parse_logic",
    "parse_order",
    "parse_select",
]
