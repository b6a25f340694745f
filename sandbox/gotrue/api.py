"""The `/auth/v1` endpoints themselves: `signup`, `token` (the `password` and `refresh_token`
grants), `user` and `logout`, each in the order of GoTrue's handler (supabase/auth
internal/api/signup.go, token.go, tokens/service.go, user.go, logout.go), so a request that is
wrong in two ways is refused for the same reason as on Supabase.

The project is set up as `supabase start` sets one up: email signups confirmed at once
(autoconfirm), so a signup answers with a session; phone and anonymous sign-ins off; access
tokens valid for an hour (`serve --jwt-exp` changes it, as GOTRUE_JWT_EXP does). Access tokens
are the sandbox's HS256 JWTs (`sandbox.auth.mint`, the project secret), with GoTrue's claims:
`sub` (the user id), `role` and `aud` (`authenticated`), `exp`, `email`, `session_id`, `aal`,
`amr` and the metadata.
"""

from __future__ import annotations

import ipaddress
import re
import time
from typing import Any, Final

import asyncpg
import orjson
from aiohttp import web

from .. import auth
from . import passwords, store
from .bearer import authenticate, request_aud, token_aud
from .errors import (
    AuthError,
    OAuthError,
    bad_json,
    bad_request,
    invalid_credentials,
    json_response,
    validation,
)

ACCESS_TTL: Final = 3600  # GOTRUE_JWT_EXP; `serve --jwt-exp` sets another
LOGOUT_SCOPES: Final = ("global", "local", "others")
# badoux/checkmail's ValidateFormat, which GoTrue's validateEmail calls
EMAIL: Final = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_TEXT = (str, "string")
SIGNUP: Final = {
    "email": _TEXT,
    "phone": _TEXT,
    "password": _TEXT,
    "data": (dict, "map[string]interface {}"),
}
PASSWORD_GRANT: Final = {"email": _TEXT, "phone": _TEXT, "password": _TEXT}
REFRESH_GRANT: Final = {"refresh_token": _TEXT}
_GO_KINDS: Final = {bool: "bool", int: "number", float: "number", str: "string", list: "array"}


def _go_kind(value: Any) -> str:
    return _GO_KINDS.get(type(value), "object")


async def read_params(
    request: web.Request, struct: str, fields: dict[str, tuple[type, str]]
) -> dict[str, Any]:
    """The JSON body as Go's `json.Unmarshal` fills GoTrue's params struct: unknown keys and
    nulls ignored, a wrong type refused in Go's words (`retrieveRequestParams`)."""
    raw = await request.read()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = raw.decode(errors="replace")
        if exc.pos >= len(text.rstrip()):
            raise bad_json("unexpected end of JSON input") from None
        raise bad_json(
            f"invalid character '{text[exc.pos]}' looking for beginning of value"
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_json(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type api.{struct}"
        )
    params = {}
    for name, (kind, go_type) in fields.items():
        item = value.get(name)
        if item is None:
            continue
        if not isinstance(item, kind):
            raise bad_json(
                f"json: cannot unmarshal {_go_kind(item)} into Go struct field "
                f"{struct}.{name} of type {go_type}"
            )
        params[name] = item
    return params


def validate_email(email: str) -> str:
    if len(email) > 255:
        raise validation("An email address is too long")
    if not EMAIL.match(email):
        raise validation("Unable to validate email address: invalid format")
    return email.lower()


def _client(request: web.Request) -> tuple[str | None, str | None]:
    """The session's user agent and IP address, as GoTrue's `FillGrantParams` records them."""
    try:
        ip = str(ipaddress.ip_address(request.remote or ""))
    except ValueError:
        ip = None
    return request.headers.get("User-Agent"), ip


def _user_exists() -> AuthError:
    return AuthError(422, "user_already_exists", "User already registered")


class AuthApi:
    """The handlers; each raises `AuthError`/`OAuthError`, which the routes answer."""

    def __init__(self, pool: asyncpg.Pool, secret: str, access_ttl: int = ACCESS_TTL) -> None:
        self.pool = pool
        self.secret = secret
        self.access_ttl = access_ttl  # seconds an access token lives

    async def signup(self, request: web.Request) -> web.StreamResponse:
        params = await read_params(request, "SignupParams", SIGNUP)
        email, phone = params.get("email", ""), params.get("phone", "")
        password = params.get("password", "")
        if not email and not phone:
            raise AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
        if not password:
            raise validation("Signup requires a valid password")
        passwords.check_strength(password)
        if email and phone:
            raise validation("Only an email address or phone number should be provided on signup.")
        if not email:
            raise bad_request("phone_provider_disabled", "Phone signups are disabled")
        email, aud = validate_email(email), request_aud(request)
        async with self.pool.acquire() as conn:
            if await store.user_by_email(conn, email, aud) is not None:
                raise _user_exists()
        hashed = await passwords.hash_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await store.create_user(conn, email, hashed, aud, params.get("data", {}))
            if user_id is None:  # signed up by a concurrent request since the check above
                raise _user_exists()
            grant = await store.start_session(conn, user_id, *_client(request))
            return await self._session(request, conn, grant)

    async def token(self, request: web.Request) -> web.StreamResponse:
        """GoTrue's other grants (id_token, pkce, web3) are not emulated: unsupported here."""
        grant_type = request.query.get("grant_type", "")
        if grant_type == "password":
            return await self._password_grant(request)
        if grant_type == "refresh_token":
            return await self._refresh_grant(request)
        raise bad_request("invalid_credentials", "unsupported_grant_type")

    async def _password_grant(self, request: web.Request) -> web.StreamResponse:
        params = await read_params(request, "PasswordGrantParams", PASSWORD_GRANT)
        email, phone = params.get("email", ""), params.get("phone", "")
        if email and phone:
            raise validation("Only an email address or phone number should be provided on login.")
        if phone:
            raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
        if not email:
            raise validation("missing email or phone")
        async with self.pool.acquire() as conn:
            user = await store.user_by_email(conn, email, request_aud(request))
        if user is None or not user["encrypted_password"]:
            raise invalid_credentials()
        if not await passwords.matches(params.get("password", ""), user["encrypted_password"]):
            raise invalid_credentials()
        if user["email_confirmed_at"] is None:
            raise bad_request("email_not_confirmed", "Email not confirmed")
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await store.start_session(conn, user["id"], *_client(request))
            return await self._session(request, conn, grant)

    async def _refresh_grant(self, request: web.Request) -> web.StreamResponse:
        params = await read_params(request, "RefreshTokenGrantParams", REFRESH_GRANT)
        if not params.get("refresh_token"):
            raise OAuthError("invalid_request", "refresh_token required")
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                outcome = await store.rotate(conn, params["refresh_token"])
            if isinstance(outcome, AuthError):  # committed: the token family stays revoked
                raise outcome
            return await self._session(request, conn, outcome)

    async def _session(
        self, request: web.Request, conn: asyncpg.Connection, grant: store.Grant
    ) -> web.StreamResponse:
        """GoTrue's `AccessTokenResponse`: a fresh access token and the user."""
        user = await store.user_by_id(conn, grant.user_id)
        if user is None:
            raise AuthError(500, "unexpected_failure", "Database error granting user")
        body = await store.user_json(conn, user)
        now = int(time.time())
        token = auth.mint(
            self.secret,
            body["role"] or "authenticated",
            iss=f"{request.scheme}://{request.host}/auth/v1",
            iat=now,
            exp=now + self.access_ttl,
            sub=body["id"],
            aud=body["aud"],
            email=body["email"],
            phone=body["phone"],
            app_metadata=body["app_metadata"],
            user_metadata=body["user_metadata"],
            aal="aal1",
            amr=[{"method": "password", "timestamp": int(grant.session_created.timestamp())}],
            session_id=str(grant.session_id),
            is_anonymous=body["is_anonymous"],
        )
        session = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "expires_at": now + self.access_ttl,
            "refresh_token": grant.refresh_token,
            "user": body,
        }
        return json_response(200, session)

    async def user(self, request: web.Request) -> web.StreamResponse:
        async with self.pool.acquire() as conn:
            caller = await authenticate(request, conn, self.secret)
            aud = token_aud(caller.claims)
            if not aud or aud != request_aud(request, caller.claims):
                raise validation("Token audience doesn't match request audience")
            return json_response(200, await store.user_json(conn, caller.user))

    async def logout(self, request: web.Request) -> web.StreamResponse:
        async with self.pool.acquire() as conn:
            caller = await authenticate(request, conn, self.secret)
            scope = request.query.get("scope", "") or "global"
            if scope not in LOGOUT_SCOPES:
                raise validation(f'Unsupported logout scope "{scope}"')
            async with conn.transaction():
                await store.logout(conn, caller.user["id"], caller.session_id, scope)
        return web.Response(status=204)
