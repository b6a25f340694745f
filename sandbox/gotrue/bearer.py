"""GoTrue's `requireAuthentication`: the caller's `Authorization: Bearer` access token, checked
and turned into its user and session, with GoTrue's refusals (supabase/auth internal/api/auth.go).

GoTrue parses the token with golang-jwt, so its refusals quote golang-jwt's words
("token is malformed: ...", "token signature is invalid: ...", "token has invalid claims: token is
expired"); PyJWT's errors are mapped onto them here. Only HS256 with the project's secret is
accepted, as on a project without asymmetric signing keys.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import jwt
from aiohttp import web

from . import store
from .errors import AuthError, forbidden

_BEARER = re.compile(r"^(?:B|b)earer (\S+)$")  # GoTrue's bearerRegexp
_PREFIX: Final = "invalid JWT: unable to parse or verify signature, "
ADMIN_ROLES: Final = ("service_role", "supabase_admin")  # GOTRUE_JWT_ADMIN_ROLES
DEFAULT_AUD: Final = "authenticated"


@dataclass(frozen=True)
class Caller:
    """A verified access token, its user's row and, when the token names one, its session."""

    claims: dict[str, Any]
    user: asyncpg.Record
    session_id: uuid.UUID | None
    session_created: datetime | None


def _golang_jwt_reason(token: str, exc: jwt.PyJWTError) -> str:
    if token.count(".") != 2:
        return "token is malformed: token contains an invalid number of segments"
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token has invalid claims: token is expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token has invalid claims: token is not valid yet"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature is invalid: signature is invalid"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        alg = jwt.get_unverified_header(token).get("alg")
        return f"token signature is invalid: signing method {alg} is invalid"
    return "token is malformed: could not base64 decode token"


def parse(token: str, secret: str) -> dict[str, Any]:
    """The token's claims, or GoTrue's 403 `bad_jwt` in golang-jwt's words."""
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise forbidden("bad_jwt", _PREFIX + _golang_jwt_reason(token, exc)) from None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def authenticate(request: web.Request, conn: asyncpg.Connection, secret: str) -> Caller:
    """GoTrue's `extractBearerToken`, `parseJWTClaims` and `maybeLoadUserOrSession`, in order."""
    found = _BEARER.match(request.headers.get("Authorization", ""))
    if found is None:
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    claims = parse(found.group(1), secret)
    if not claims.get("sub"):
        raise forbidden("bad_jwt", "invalid claim: missing sub claim")
    user_id = _uuid(claims["sub"])
    if user_id is None:
        raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID")
    user = await store.user_by_id(conn, user_id)
    if user is None:
        raise forbidden("user_not_found", "User from sub claim in JWT does not exist")
    raw_session = claims.get("session_id")
    if not raw_session or raw_session == str(uuid.UUID(int=0)):
        return Caller(claims, user, None, None)
    session_id = _uuid(raw_session)
    if session_id is None:
        raise forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID")
    created = await store.session_created(conn, session_id)
    if created is None:
        raise forbidden("session_not_found", "Session from session_id claim in JWT does not exist")
    return Caller(claims, user, session_id, created)


def request_aud(request: web.Request, claims: dict[str, Any] | None = None) -> str:
    """GoTrue's `requestAud`: the `X-JWT-AUD` header, else a non-admin token's `aud`, else the
    default audience."""
    if header := request.headers.get("X-JWT-AUD"):
        return header
    if claims is not None and claims.get("role") not in ADMIN_ROLES:
        aud = token_aud(claims)
        if aud:
            return aud
    return DEFAULT_AUD


def token_aud(claims: dict[str, Any]) -> str:
    """The first audience of a token (`aud` may be a string or a list), or ""."""
    aud = claims.get("aud")
    if isinstance(aud, list):
        return str(aud[0]) if aud else ""
    return str(aud) if aud else ""
