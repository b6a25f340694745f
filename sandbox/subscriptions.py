"""postgres_changes subscriptions made the way the server makes them, or refused with its words.

The server (supabase/realtime lib/extensions/postgres_cdc_rls/cdc_rls.ex and subscriptions.ex)
first parses every binding of a join in Elixir (`parse_params`: the param shapes, `event`,
`select`, the filter syntax); the first bad one refuses them all. Then, binding by binding, it
inserts `realtime.subscription` rows, one per published table the binding covers, and a trigger
checks each (`Publications.subscription_tables`, in SQL). A binding that covers no table, or
that the trigger refuses, refuses the join's changes with a `system` error; nothing is retried.

What comes out is one `Binding` per (binding, table): a wildcard table set is fixed here, when
the channel subscribes, as on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg2.errorcodes

from .access import Publications
from .auth import Claims
from .channels import Binding
from .filters import (
    FilterError,
    FilterRejectedError,
    RawCondition,
    compile_filter,
    inspect_term,
    split_filter,
)

NO_PARAMS = (
    "No subscription params provided. Please provide at least a `schema` or `table` to "
    "subscribe to: "
)
BAD_SELECT = (
    "Error parsing `select` params: expected a list of column name strings, e.g. "
    'select: ["col1", "col2"]'
)
WILDCARD_SELECT = (
    "Column selection is not supported for wildcard subscriptions. Provide an explicit schema "
    "and table name."
)
UNABLE = "Unable to subscribe to changes with given parameters. "


class SubscriptionError(Exception):
    """A refusal; `message` is the server's text for the `system` message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Params:
    """One binding after `parse_subscription_params/1`."""

    id: int
    event: str  # INSERT | UPDATE | DELETE | *
    schema: str
    table: str
    filters: tuple[RawCondition, ...]
    filter_text: str | None
    select: tuple[str, ...] | None

    def to_log(self) -> str:
        """`params_to_log/1`: how the server quotes the binding in its refusals."""
        filters = [tuple(f) for f in self.filters]
        select = list(self.select) if self.select is not None else None
        return (
            f"event: {self.event}, schema: {self.schema}, table: {self.table}, "
            f"filters: {inspect_term(filters)}, select: {inspect_term(select)}"
        )


def parse_params(raw: dict[str, Any], binding_id: int) -> Params:
    """A port of `parse_subscription_params/1`; raises `SubscriptionError`."""
    event = _action_filter(raw.get("event"))
    select = _select(raw)
    schema, table, text = raw.get("schema"), raw.get("table"), raw.get("filter")
    if isinstance(schema, str) and isinstance(table, str) and isinstance(text, str):
        try:
            filters = split_filter(text)
        except FilterError as err:
            raise SubscriptionError(err.message) from None
        return _ok(binding_id, event, schema, table, filters, text, select)
    if isinstance(schema, str) and isinstance(table, str) and "filter" not in raw:
        return _ok(binding_id, event, schema, table, (), None, select)
    if isinstance(schema, str) and "table" not in raw and "filter" not in raw:
        return _ok(binding_id, event, schema, "*", (), None, select)
    if isinstance(table, str) and "schema" not in raw and "filter" not in raw:
        return _ok(binding_id, event, "public", table, (), None, select)
    if "user_token" in raw or "auth_token" in raw:
        raise SubscriptionError(NO_PARAMS + "<redacted>")
    raise SubscriptionError(NO_PARAMS + inspect_term(raw, pretty=False))


def _action_filter(event: Any) -> str:
    if isinstance(event, str) and event.upper() in ("INSERT", "UPDATE", "DELETE"):
        return event.upper()
    return "*"


def _select(raw: dict[str, Any]) -> tuple[str, ...] | None:
    value = raw.get("select")
    if isinstance(value, list):
        names = tuple(v for v in value if isinstance(v, str))
        return names or None
    if isinstance(value, str):
        raise SubscriptionError(BAD_SELECT)
    return None


def _ok(
    binding_id: int,
    event: str,
    schema: str,
    table: str,
    filters: tuple[RawCondition, ...],
    text: str | None,
    select: tuple[str, ...] | None,
) -> Params:
    if select is not None and (schema == "*" or table == "*"):
        raise SubscriptionError(WILDCARD_SELECT)
    return Params(binding_id, event, schema, table, filters, text, select)


async def subscribe(
    publications: Publications, claims: Claims, raw_bindings: list[dict[str, Any]]
) -> list[Binding]:
    """The join's bindings (as echoed, each with its `id`), parsed, checked and expanded to one
    `Binding` per published table; raises `SubscriptionError` with the first refusal."""
    params = [
        parse_params({k: v for k, v in b.items() if k != "id"}, b["id"]) for b in raw_bindings
    ]
    bindings: list[Binding] = []
    for p in params:
        try:
            tables = await publications.subscription_tables(
                claims, p.schema, p.table, p.filters, p.select
            )
            flt = compile_filter(p.filters)
        except asyncpg.PostgresError as exc:
            raise SubscriptionError(_exception(p, _postgres_message(exc))) from None
        except FilterRejectedError as err:  # the trigger let through what PostgreSQL would not
            message = f"ERROR P0001 (raise_exception) {err.message}"
            raise SubscriptionError(_exception(p, message)) from None
        if not tables:
            raise SubscriptionError(
                UNABLE + "Please check Realtime is enabled for the given connect parameters: "
                f"[{p.to_log()}]"
            )
        bindings += [
            Binding(p.id, p.event, schema, table, flt, p.filter_text, p.select)
            for schema, table in tables
        ]
    return bindings


def _exception(p: Params, message: str) -> str:
    return (
        UNABLE + "An exception happened so please check your connect parameters: "
        f"[{p.to_log()}]. Exception: {message}"
    )


def _postgres_message(exc: asyncpg.PostgresError) -> str:
    """`Exception.message/1` of the Postgrex error the server would get."""
    code = exc.sqlstate or "XX000"
    try:
        name = psycopg2.errorcodes.lookup(code).lower()
    except KeyError:
        name = "internal_error"
    return f"ERROR {code} ({name}) {exc.args[0] if exc.args else exc}"
