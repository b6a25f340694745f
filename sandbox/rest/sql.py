"""Turn a parsed plan plus catalog metadata into SQL with bind parameters.

Identifiers are always double-quoted and must exist in the catalog (the caller validates);
every value from the request is a bind parameter of type text, cast through `::text` to the
column's catalog type (`$1::text::integer`), so PostgreSQL's own input functions decide what a
value means, exactly as PostgREST's unknown-typed literals do. Rows come back as one JSON text
produced by `json_agg`, so the response renders rows as PostgreSQL's `to_json` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..as_role import ident
from .catalog import Column
from .query import OPERATORS, Field, Filter, Logic, Order, Plan, SelectItem

__all__ = ["ALIAS", "Params", "ident", "relation"]

ALIAS = "_r"


def relation(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


class Params:
    """Collects bind values; `add` returns the `$n` placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


ARRAY_INDEX = re.compile(r"-?[0-9]+")  # `arr->0`, `arr->-1`; not "²", which isdigit() admits


def field_sql(f: Field, params: Params, alias: str = ALIAS) -> str:
    sql = f"{alias}.{ident(f.name)}"
    for op, key in f.path:
        if ARRAY_INDEX.fullmatch(key):
            sql += f"{op}{params.add(int(key))}::int"
        else:
            sql += f"{op}{params.add(key)}::text"
    return sql


def field_type(f: Field, columns: dict[str, Column]) -> str:
    if f.as_text:
        return "text"
    return columns[f.name].type


def _like(pattern: str) -> str:
    return pattern.replace("*", "%")


def condition_sql(cond: Filter | Logic, columns: dict[str, Column], params: Params) -> str:
    if isinstance(cond, Logic):
        joiner = " and " if cond.op == "and" else " or "
        inner = joiner.join(condition_sql(c, columns, params) for c in cond.items)
        sql = f"({inner})"
        return f"not {sql}" if cond.negate else sql
    f = field_sql(cond.field, params)
    typ = field_type(cond.field, columns)
    op = cond.op
    if op == "is":
        word = "not null" if cond.value == "not_null" else cond.value
        sql = f"{f} is {word}"
    elif op == "in":
        values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        if not values:
            sql = "false"
        else:
            items = ", ".join(f"{params.add(v)}::text::{typ}" for v in values)
            sql = f"{f} in ({items})"
    elif op in ("like", "ilike"):
        sql = f"{f}::text {op} {params.add(_like(str(cond.value)))}::text"
    elif op in ("match", "imatch"):
        sym = "~" if op == "match" else "~*"
        sql = f"{f}::text {sym} {params.add(cond.value)}::text"
    else:
        sql = f"{f} {OPERATORS[op]} {params.add(cond.value)}::text::{typ}"
    return f"not ({sql})" if cond.negate else sql


def where_sql(conds: Sequence[Filter | Logic], columns: dict[str, Column], params: Params) -> str:
    if not conds:
        return ""
    return " where " + " and ".join(condition_sql(c, columns, params) for c in conds)


def select_sql(items: Sequence[SelectItem], params: Params, alias: str = ALIAS) -> str:
    parts: list[str] = []
    for item in items:
        if item.field is None:
            parts.append(f"{alias}.*")
            continue
        expr = field_sql(item.field, params, alias)
        if item.cast:
            expr = f"({expr})::{item.cast}"
        parts.append(f"{expr} as {ident(item.alias or item.field.label)}")
    return ", ".join(parts)


def order_sql(order: Sequence[Order], params: Params) -> str:
    if not order:
        return ""
    parts = []
    for o in order:
        s = f"{field_sql(o.field, params)} {'desc' if o.desc else 'asc'}"
        if o.nulls:
            s += f" nulls {o.nulls}"
        parts.append(s)
    return " order by " + ", ".join(parts)


def page_sql(limit: int | None, offset: int | None) -> str:
    sql = ""
    if limit is not None:
        sql += f" limit {int(limit)}"
    if offset:
        sql += f" offset {int(offset)}"
    return sql


def rows_json(inner: str, strip_nulls: bool = False) -> str:
    """`select count, json array text, first row text` over the rows of `inner`."""
    row = "json_strip_nulls(row_to_json(_t))" if strip_nulls else "row_to_json(_t)"
    return (
        f"select count(*)::bigint as n, coalesce(json_agg({row}), '[]')::text as body, "
        f"(json_agg({row}) -> 0)::text as first from ({inner}) _t"
    )


def read_sql(
    rel: str,
    plan: Plan,
    columns: dict[str, Column],
    *,
    limit: int | None,
    offset: int | None,
    strip_nulls: bool = False,
) -> tuple[str, list[Any]]:
    params = Params()
    cols = select_sql(plan.select, params)
    where = where_sql(plan.where, columns, params)
    order = order_sql(plan.order, params)
    inner = f"select {cols} from {rel} {ALIAS}{where}{order}{page_sql(limit, offset)}"
    return rows_json(inner, strip_nulls), params.values


def count_sql(rel: str, plan: Plan, columns: dict[str, Column]) -> tuple[str, list[Any]]:
    params = Params()
    where = where_sql(plan.where, columns, params)
    return f"select count(*) from {rel} {ALIAS}{where}", params.values


def _returning(representation: bool) -> str:
    return f" returning {ALIAS}.*" if representation else ""


def _wrap_write(
    write: str, plan: Plan, params: Params, representation: bool, strip_nulls: bool
) -> str:
    if not representation:
        return write
    cols = select_sql(plan.select, params)
    return f"with _w as ({write}) " + rows_json(f"select {cols} from _w {ALIAS}", strip_nulls)


def insert_sql(
    rel: str,
    rows: list[dict[str, Any]],
    cols: Sequence[str],
    plan: Plan,
    *,
    representation: bool,
    payload: str,
    missing_default: bool = False,
    conflict: Sequence[str] | None = None,
    resolution: str | None = None,
    strip_nulls: bool = False,
    dumps: Any = None,
) -> tuple[str, list[Any]]:
    """INSERT of `rows` (`payload` is their JSON array text) into `cols`.

    Keys absent from a row are NULL, as with PostgREST's `json_populate_recordset`; with
    `missing_default` (`Prefer: missing=default`) they take the column default instead.
    """
    params = Params()
    col_list = ", ".join(ident(c) for c in cols)
    if not cols:
        p = params.add(payload)
        source = f"select from json_array_elements({p}::json)"
    elif missing_default:
        tuples = []
        for row in rows:
            p = params.add(dumps(row))
            rec = f"json_populate_record(null::{rel}, {p}::json)"
            tuples.append(
                "("
                + ", ".join(f"({rec}).{ident(c)}" if c in row else "default" for c in cols)
                + ")"
            )
        source = "values " + ", ".join(tuples)
    else:
        p = params.add(payload)
        picked = ", ".join(f"_j.{ident(c)}" for c in cols)
        source = f"select {picked} from json_populate_recordset(null::{rel}, {p}::json) _j"
    target_cols = f" ({col_list})" if cols else ""
    write = f"insert into {rel} as {ALIAS}{target_cols} {source}"
    if resolution and conflict:
        target = ", ".join(ident(c) for c in conflict)
        if resolution == "ignore" or not cols:
            write += f" on conflict ({target}) do nothing"
        else:
            sets = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in cols)
            write += f" on conflict ({target}) do update set {sets}"
    write += _returning(representation)
    return _wrap_write(write, plan, params, representation, strip_nulls), params.values


def update_sql(
    rel: str,
    body: str,
    cols: Sequence[str],
    plan: Plan,
    columns: dict[str, Column],
    *,
    representation: bool,
    strip_nulls: bool = False,
) -> tuple[str, list[Any]]:
    """UPDATE setting `cols` from the JSON object text `body`, on the rows the filters select."""
    params = Params()
    p = params.add(body)
    sets = ", ".join(f"{ident(c)} = _v.{ident(c)}" for c in cols)
    where = where_sql(plan.where, columns, params)
    write = (
        f"update {rel} as {ALIAS} set {sets} "
        f"from json_populate_record(null::{rel}, {p}::json) _v{where}"
    )
    write += _returning(representation)
    return _wrap_write(write, plan, params, representation, strip_nulls), params.values


def delete_sql(
    rel: str,
    plan: Plan,
    columns: dict[str, Column],
    *,
    representation: bool,
    strip_nulls: bool = False,
) -> tuple[str, list[Any]]:
    params = Params()
    where = where_sql(plan.where, columns, params)
    write = f"delete from {rel} as {ALIAS}{where}" + _returning(representation)
    return _wrap_write(write, plan, params, representation, strip_nulls), params.values
