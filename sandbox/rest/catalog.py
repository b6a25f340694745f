"""PostgREST's schema cache, in small: tables' columns and primary keys, functions' signatures.

Entries are read from pg_catalog as the database owner and kept for `TTL` seconds. A name that
is not found is never cached (a test may create the table a moment later), and a column that is
missing from a cached table makes the caller reload once before answering 42703/PGRST204, so DDL
is seen at once rather than after PostgREST's `NOTIFY pgrst, 'reload schema'`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg

TTL = 5.0

TABLE_SQL = """
select c.oid, c.relkind,
       coalesce(array_agg(a.attname order by a.attnum)
                filter (where a.attname is not null), '{}') as names,
       coalesce(array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum)
                filter (where a.attname is not null), '{}') as types,
       coalesce((select array_agg(ka.attname order by k.i)
                   from pg_index ix
                   cross join unnest(ix.indkey) with ordinality k(attnum, i)
                   join pg_attribute ka on ka.attrelid = ix.indrelid and ka.attnum = k.attnum
                  where ix.indrelid = c.oid and ix.indisprimary), '{}') as pk
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
 where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'v', 'm', 'f', 'p')
 group by c.oid, c.relkind
"""

FUNCTION_SQL = """
select p.oid, p.proname, p.pronargs, p.pronargdefaults, p.proretset, p.provolatile,
       coalesce(p.proargnames, '{}') as argnames,
       coalesce(p.proargmodes, '{}') as argmodes,
       array(select format_type(t.oid, null)
               from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
                    with ordinality t(oid, i) order by t.i) as argtypes,
       rt.typtype as ret_typtype, rt.typrelid as ret_relid,
       format_type(p.prorettype, null) as ret_type,
       coalesce((select array_agg(a.attname order by a.attnum)
                   from pg_attribute a
                  where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped),
                '{}') as ret_names,
       coalesce((select array_agg(format_type(a.atttypid, a.atttypmod) order by a.attnum)
                   from pg_attribute a
                  where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped),
                '{}') as ret_types
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
 where n.nspname = $1 and p.proname = $2 and p.prokind = 'f'
 order by p.oid
"""

JSON_TYPES = {"json", "jsonb"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): safe to splice after `::`

    @property
    def is_json(self) -> bool:
        return self.type in JSON_TYPES


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, Column]
    pk: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arg:
    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    args: tuple[Arg, ...]
    returns_set: bool
    kind: str  # "void", "scalar" or "composite"
    return_type: str
    columns: dict[str, Column] = field(default_factory=dict)
    volatility: str = "v"  # pg_proc.provolatile: i, s, v

    @property
    def single_unnamed(self) -> bool:
        """One unnamed json/jsonb/text parameter: the whole body is passed to it."""
        return (
            len(self.args) == 1
            and not self.args[0].name
            and self.args[0].type in ("json", "jsonb", "text", "xml", "bytea")
        )

    def signature(self) -> str:
        return ", ".join(f"{a.name} => {a.type}" if a.name else a.type for a in self.args)


def _function(schema: str, row: asyncpg.Record) -> Function:
    names = list(row["argnames"])
    types = list(row["argtypes"])
    modes = list(row["argmodes"]) or ["i"] * len(types)
    names += [""] * (len(types) - len(names))
    inputs = [(n, t) for n, t, m in zip(names, types, modes, strict=True) if m in ("i", "b", "v")]
    outputs = [(n, t) for n, t, m in zip(names, types, modes, strict=True) if m in ("o", "b", "t")]
    first_default = len(inputs) - int(row["pronargdefaults"] or 0)
    args = tuple(Arg(n, t, i < first_default) for i, (n, t) in enumerate(inputs))
    columns: dict[str, Column] = {}
    if outputs and (len(outputs) > 1 or row["ret_typtype"] == "p"):
        columns = {n: Column(n, t) for n, t in outputs}
    elif row["ret_relid"]:
        columns = {n: Column(n, t) for n, t in zip(row["ret_names"], row["ret_types"], strict=True)}
    if columns:
        kind = "composite"
    elif row["ret_type"] == "void":
        kind = "void"
    else:
        kind = "scalar"
    return_type = outputs[0][1] if kind == "scalar" and outputs else row["ret_type"]
    return Function(
        schema,
        row["proname"],
        args,
        bool(row["proretset"]),
        kind,
        return_type,
        columns,
        row["provolatile"],
    )


class Catalog:
    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._tables: dict[tuple[str, str], tuple[float, Table]] = {}
        self._functions: dict[tuple[str, str], tuple[float, list[Function]]] = {}

    async def table(
        self, conn: asyncpg.Connection, schema: str, name: str, *, fresh: bool = False
    ) -> Table | None:
        key = (schema, name)
        cached = self._tables.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        row = await conn.fetchrow(TABLE_SQL, schema, name)
        if row is None:
            self._tables.pop(key, None)
            return None
        columns = {n: Column(n, t) for n, t in zip(row["names"], row["types"], strict=True)}
        table = Table(schema, name, columns, tuple(row["pk"]))
        self._tables[key] = (time.monotonic(), table)
        return table

    async def functions(
        self, conn: asyncpg.Connection, schema: str, name: str, *, fresh: bool = False
    ) -> list[Function]:
        key = (schema, name)
        cached = self._functions.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        rows = await conn.fetch(FUNCTION_SQL, schema, name)
        found = [_function(schema, r) for r in rows]
        if found:
            self._functions[key] = (time.monotonic(), found)
        else:
            self._functions.pop(key, None)
        return found
