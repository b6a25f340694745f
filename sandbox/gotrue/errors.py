"""GoTrue's error answers, and the refusals of the API gateway in front of it.

GoTrue words an error in one of two shapes, chosen by the request's `X-Supabase-Api-Version`
header (supabase/auth: internal/api/errors.go, apiversions.go, apierrors/apierrors.go; the codes
are apierrors/errorcode.go):

* no header, or a date before 2024-01-01: `{"code": <HTTP status>, "error_code": ..., "msg": ...}`;
* 2024-01-01 or later (auth-js and supabase-py send it): `{"code": ..., "message": ...}`, and the
  response echoes `X-Supabase-Api-Version: 2024-01-01`.

`x-sb-error-code` repeats the code (for a weak password only in the older shape, as GoTrue does),
and a weak password adds `weak_password: {"reasons": [...]}`. OAuth-style errors (a refresh
grant without a token) are `{"error", "error_description"}` whatever the version.

On Supabase the gateway checks the `apikey` before GoTrue sees the request, and refuses in its
own words; `gateway_refusal` answers those. GoTrue itself answers an unknown path with chi's plain
text "404 page not found"; the sandbox answers it in GoTrue's JSON shape instead, with the codes
`not_found` and `method_not_allowed`, which are the sandbox's own (GoTrue has no code for them).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

import orjson
from aiohttp import web

from ..auth import MISSING, TokenError

API_VERSION_HEADER: Final = "X-Supabase-Api-Version"
API_2024: Final = date(2024, 1, 1)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AuthError(Exception):
    """An error GoTrue answers as an `HTTPError` (or, with `reasons`, a `WeakPasswordError`)."""

    def __init__(
        self, status: int, code: str, message: str, reasons: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reasons = reasons


class OAuthError(Exception):
    """An RFC 6749 error, always HTTP 400 in the same shape."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def bad_request(code: str, message: str) -> AuthError:
    return AuthError(400, code, message)


def validation(message: str) -> AuthError:
    return AuthError(400, "validation_failed", message)


def bad_json(detail: str) -> AuthError:
    return AuthError(400, "bad_json", f"Could not parse request body as JSON: {detail}")


def forbidden(code: str, message: str) -> AuthError:
    return AuthError(403, code, message)


def invalid_credentials() -> AuthError:
    return AuthError(400, "invalid_credentials", "Invalid login credentials")


def unexpected() -> AuthError:
    return AuthError(
        500,
        "unexpected_failure",
        "Unexpected failure, please check server logs for more information",
    )


def not_found() -> AuthError:
    return AuthError(404, "not_found", "404 page not found")


def method_not_allowed() -> AuthError:
    return AuthError(405, "method_not_allowed", "405 method not allowed")


def newer_api(request: web.Request) -> bool:
    """Whether the caller asked for the 2024-01-01 error shape (an unreadable date: the old)."""
    value = request.headers.get(API_VERSION_HEADER, "")
    if not _DATE.match(value):
        return False
    try:
        return date.fromisoformat(value) >= API_2024
    except ValueError:
        return False


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def answer(request: web.Request, err: AuthError | OAuthError) -> web.Response:
    """`err` in the shape the request's API version asks for."""
    newer = newer_api(request)
    headers = {API_VERSION_HEADER: API_2024.isoformat()} if newer else {}
    if isinstance(err, OAuthError):
        return json_response(
            400, {"error": err.error, "error_description": err.description}, headers
        )
    if newer:
        body: dict[str, Any] = {"code": err.code, "message": err.message}
    else:
        body = {"code": err.status, "error_code": err.code, "msg": err.message}
    if err.reasons is not None:
        body["weak_password"] = {"reasons": err.reasons}
    if err.reasons is None or not newer:
        headers["x-sb-error-code"] = err.code
    return json_response(err.status, body, headers)


def gateway_refusal(request: web.Request, err: TokenError) -> web.StreamResponse:
    """What Supabase's API gateway answers when the `apikey` is missing or not the project's."""
    if err is MISSING:
        body = {
            "message": "No API key found in request",
            "hint": "No `apikey` request header or url param was found.",
        }
    else:
        body = {
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        }
    return json_response(401, body)
