"""PostgREST's error shape and HTTP statuses.

Every error body is `{"code", "details", "hint", "message"}`, as PostgREST (v12/v13, the versions
Supabase runs) sends it. Errors raised by PostgreSQL keep their SQLSTATE as `code` and map to an
HTTP status with PostgREST's table; errors of the API layer itself use PostgREST's `PGRST...`
codes and wording.
"""

from __future__ import annotations

from typing import Any

import asyncpg


class RestError(Exception):
    """An error answered as PostgREST would: HTTP status plus the four-key JSON body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


# --- the API layer's own errors (PGRST codes) ------------------------------------------------


def parse_error(what: str, text: str, details: str, column: int = 1) -> RestError:
    """PGRST100: a query parameter PostgREST's parser refuses."""
    return RestError(
        400,
        "PGRST100",
        f'"failed to parse {what} ({text})" (line 1, column {column})',
        details,
    )


def invalid_body(message: str) -> RestError:
    return RestError(400, "PGRST102", message)


def range_not_satisfiable(offset: int, total: int) -> RestError:
    return RestError(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        f"An offset of {offset} was requested, but there are only {total} rows.",
        headers={"Content-Range": f"*/{total}"},
    )


def schema_not_exposed(schema: str, exposed: list[str]) -> RestError:
    return RestError(
        406,
        "PGRST106",
        f"The schema must be one of the following: {', '.join(exposed)}",
        hint=None,
        details=f"Invalid schema: {schema}",
    )


def not_embedded(name: str) -> RestError:
    return RestError(
        400,
        "PGRST108",
        f"'{name}' is not an embedded resource in this request",
        hint=f"Verify that '{name}' is included in the 'select' query parameter.",
    )


def not_single(rows: int) -> RestError:
    return RestError(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        f"The result contains {rows} rows",
    )


def no_relationship(schema: str, table: str, target: str) -> RestError:
    return RestError(
        400,
        "PGRST200",
        f"Could not find a relationship between '{table}' and '{target}' in the schema cache",
        f"Searched for a foreign key relationship between '{table}' and '{target}' in the "
        f"schema '{schema}', but no matches were found.",
        "Resource embedding is not supported by the sandbox's PostgREST subset.",
    )


def function_not_found(schema: str, name: str, args: list[str]) -> RestError:
    names = sorted(args)
    params = f" with parameters {', '.join(names)}" if names else " without parameters"
    return RestError(
        404,
        "PGRST202",
        f"Could not find the function {schema}.{name}({', '.join(names)}) in the schema cache",
        f"Searched for the function {schema}.{name}{params} or with a single unnamed json/jsonb "
        "parameter, but no matches were found in the schema cache.",
    )


def function_ambiguous(schema: str, name: str, candidates: list[str]) -> RestError:
    return RestError(
        300,
        "PGRST203",
        f"Could not choose the best candidate function between: "
        f"{', '.join(f'{schema}.{name}({c})' for c in candidates)}",
        hint="Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    )


def column_not_found(table: str, column: str) -> RestError:
    """PGRST204: a payload (or `columns`) key that is not a column of the table."""
    return RestError(
        400, "PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache"
    )


def table_not_found(schema: str, table: str) -> RestError:
    return RestError(
        404, "PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache"
    )


def undefined_column(table: str, column: str) -> RestError:
    """42703 as PostgreSQL words it for a qualified column (select, filter, order)."""
    return RestError(400, "42703", f"column {table}.{column} does not exist")


def requires_where(verb: str) -> RestError:
    """pg-safeupdate, which Supabase loads for the API roles."""
    return RestError(400, "21000", f"{verb} requires a WHERE clause")


def method_not_allowed(method: str) -> RestError:
    return RestError(405, "PGRST117", f"Unsupported HTTP method: {method}")


# --- JWT errors ------------------------------------------------------------------------------


def _jwt(code: str, message: str) -> RestError:
    return RestError(
        401,
        code,
        message,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'
        },
    )


def missing_key() -> RestError:
    """What Supabase's gateway answers when neither `apikey` nor a Bearer token is sent."""
    return RestError(
        401,
        "PGRST301",
        "No API key found in request",
        hint="No `apikey` request header or url param was found.",
    )


def bad_jwt(message: str) -> RestError:
    """Map `sandbox.auth.TokenError` wording onto PostgREST's JWT errors."""
    if message.startswith("Token has expired"):
        return _jwt("PGRST303", "JWT expired")
    if "signature" in message:
        return _jwt("PGRST301", "No suitable key or wrong key type")
    if "not a valid JWT" in message:
        return _jwt("PGRST301", "Expected 3 parts in JWT; got 1")
    return _jwt("PGRST301", message)


def role_refused(role: str, anonymous: bool) -> RestError:
    return RestError(401 if anonymous else 403, "42501", f'permission denied to set role "{role}"')


# --- PostgreSQL errors -----------------------------------------------------------------------

_EXACT = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
}
_PREFIX = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def status_for(sqlstate: str, anonymous: bool) -> int:
    """PostgREST's SQLSTATE → HTTP status table (42501 depends on whether a JWT was sent)."""
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate in _EXACT:
        return _EXACT[sqlstate]
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])  # RAISE ... USING ERRCODE = 'PT402' sets the status
    return _PREFIX.get(sqlstate[:2], 400)


def from_postgres(exc: asyncpg.PostgresError, anonymous: bool) -> RestError:
    sqlstate = getattr(exc, "sqlstate", None) or "XX000"
    message = getattr(exc, "message", None) or str(exc)
    return RestError(
        status_for(sqlstate, anonymous),
        sqlstate,
        message,
        getattr(exc, "detail", None),
        getattr(exc, "hint", None),
    )
