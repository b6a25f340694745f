"""Supabase Realtime's `postgres_changes` filters: parsed and evaluated as the server does.

A subscription may carry a PostgREST-style `filter` such as `id=gt.9,status=not.in.(done,"on
hold")`. The real server (supabase/realtime 2.129.x) splits and validates that string in Elixir,
stores the conditions in `realtime.subscription` (where a trigger rejects a few more), and for
every WAL change evaluates them inside PostgreSQL by casting *both* the column's text and the
filter value to the column's type. This package reproduces both halves without a database, so the
sandbox delivers exactly the changes a real project would deliver:

* `parse`: the Elixir parser, byte for byte, including its error text;
* `evaluate`: the SQL semantics of each operator, compiled once per column type;
* `types`: how each PostgreSQL type reads and orders its values;
* `patterns`: LIKE and PostgreSQL regular expressions in Python's `re`.

Known approximations (documented so nobody mistakes them for server behaviour): text ordering
uses code-point order (`C` collation); `match`/`imatch` run PostgreSQL ARE patterns through
Python's `re` after translating the common differences; enums and other types this package does
not know compare as text.
"""

from .evaluate import Condition, Filter
from .parse import (
    IS_VALUES,
    MAX_IN_VALUES,
    OPERATORS,
    FilterError,
    FilterRejectedError,
    RawCondition,
    compile_filter,
    inspect_term,
    parse_filter,
    split_filter,
)

__all__ = [
    "IS_VALUES",
    "MAX_IN_VALUES",
    "OPERATORS",
    "Condition",
    "Filter",
    "FilterError",
    "FilterRejectedError",
    "RawCondition",
    "compile_filter",
    "inspect_term",
    "parse_filter",
    "split_filter",
]
