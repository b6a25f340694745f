"""Evaluate parsed filters against a change's record, as `realtime.check_equality_op` would.

The server evaluates each condition inside PostgreSQL by casting *both* the column's text and
the filter's value to the column's type. Here each condition is compiled, once per column type,
into a Python predicate with the same SQL semantics: typed comparison, three-valued logic (a
NULL comparison, negated or not, never matches), and "the column must be present in the change"
(a filter on a column the change does not carry never matches, which is why the server does
not deliver DELETEs filtered on non-key columns without REPLICA IDENTITY FULL). Where PostgreSQL
would raise (an uncastable value, an operator the type lacks) the predicate is constant false:
the server never delivers such a change either.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import InvalidOperation
from typing import Any, Final

from .patterns import are_to_regex, like_to_regex
from .types import PgType, infer_type_name, lookup_type

__all__ = ["Condition", "Evaluator", "Filter", "compile_condition"]

Evaluator = Callable[[object], bool]
_MISSING: Final = object()


@dataclass(frozen=True)
class Condition:
    """One `column=[not.]op.value` condition.

    `value` is the unquoted string for most operators; for `in` it is a tuple of the list's
    elements (`None` for an unquoted `NULL` element), a tuple rather than a list so the frozen
    dataclass stays hashable; for `is` it is `None`, `True`, `False` or `"unknown"`.
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
        """The (cached) predicate for a column of PostgreSQL type `type_name`.

        The predicate takes the record's JSON value (never called for a missing column) and
        returns whether the condition holds; SQL NULL results count as "does not hold".
        """
        ev = self._evaluators.get(type_name)
        if ev is None:
            ev = compile_condition(self.op, self.value, self.negate, lookup_type(type_name))
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
        """Whether a change's `record` passes the filter, as `is_visible_through_filters`.

        `column_types` maps column names to PostgreSQL type names (`int4`, `timestamptz`,
        `_text`, or display names such as `integer`); a column without a type is typed from its
        Python value. Never raises: anything PostgreSQL would error on counts as no match.
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
                type_name = infer_type_name(value)
            if not cond.evaluator(type_name)(value):
                return False
        return True

    @property
    def columns(self) -> set[str]:
        """Columns the filter reads, e.g. to check they exist before subscribing."""
        return {cond.column for cond in self.conditions}


# --------------------------------------------------------------------------------------------
# Compilation: a port of realtime.check_equality_op(op, type, val_1, val_2, negate)
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


def compile_condition(op: str, value: object, negate: bool, pg_type: PgType) -> Evaluator:
    """The predicate for `op` with the filter's `value` on a column of `pg_type`.

    Everything that depends only on the filter (casting its value, compiling patterns) happens
    here, once.
    """
    if op == "is":
        return _compile_is(value, negate, pg_type)
    if op in ("like", "ilike", "match", "imatch"):
        return _compile_pattern(op, str(value), negate, pg_type)
    if not pg_type.comparable:
        return _never
    if op == "in":
        items = value if isinstance(value, tuple) else ()
        return _never if pg_type.array else _compile_in(items, negate, pg_type)
    try:
        rhs = pg_type.parse(str(value))
    except _CAST_ERRORS:
        return _never
    if op == "isdistinct":
        return _compile_distinct(rhs, negate, pg_type)
    return _compile_compare(_COMPARATORS[op], rhs, negate, pg_type)


def _compile_pattern(op: str, pattern: str, negate: bool, pg_type: PgType) -> Evaluator:
    """LIKE / ILIKE (whole-string match) and ~ / ~* (search), on textual types only."""
    if not pg_type.textual:
        return _never
    to_key = pg_type.from_json
    try:
        pattern_text = pg_type.parse(pattern)
        ignore_case = op in ("ilike", "imatch") or pg_type.case_insensitive
        if op in ("like", "ilike"):
            search = like_to_regex(pattern_text, ignore_case).fullmatch
        else:
            search = are_to_regex(pattern_text, ignore_case).search
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


def _compile_in(items: tuple[str | None, ...], negate: bool, pg_type: PgType) -> Evaluator:
    """`x = any(array)`: NULL (so never a match, negated or not) when the list holds a NULL."""
    to_key = pg_type.from_json
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
        return False if has_null else negate

    return in_ev


def _compile_distinct(rhs: Any, negate: bool, pg_type: PgType) -> Evaluator:
    """`IS DISTINCT FROM`: NULL-safe, so a NULL column is distinct from any value."""
    to_key = pg_type.from_json

    def distinct_ev(value: object) -> bool:
        if value is None:
            return not negate
        try:
            return (to_key(value) != rhs) != negate
        except _CAST_ERRORS:
            return False

    return distinct_ev


def _compile_compare(
    compare: Callable[[Any, Any], bool], rhs: Any, negate: bool, pg_type: PgType
) -> Evaluator:
    to_key = pg_type.from_json

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


def _compile_is(target: object, negate: bool, pg_type: PgType) -> Evaluator:
    """`x IS [NOT] NULL|TRUE|FALSE|UNKNOWN`: two-valued, so `not.` flips NULL results too."""
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
