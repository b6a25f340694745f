"""The SQL behind `/auth/v1`: users, identities, sessions and refresh tokens in the `auth` schema
(`sql/005_auth.sql`), read and written as GoTrue's models do (supabase/auth internal/models/), and
the user as GoTrue's JSON shows it.

Refresh tokens follow GoTrue's "v1" algorithm (models/refresh_token.go, tokens/service.go
`RefreshTokenGrant`): twelve lower-case base32 characters, one row each; every use revokes the
token presented and issues its child. A revoked token presented again is answered with the
session's active token when it is that token's parent (a client that lost the answer), is
swapped again within the reuse interval, and after it revokes the whole session's family.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import orjson

from ..as_role import dumps
from .errors import AuthError, bad_request

NIL_INSTANCE: Final = "00000000-0000-0000-0000-000000000000"
REUSE_INTERVAL_S: Final = 10.0  # GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL on a local project

_USER = """select id, aud, role, email, encrypted_password, email_confirmed_at, phone,
  confirmation_sent_at, confirmed_at, last_sign_in_at, raw_app_meta_data::text as app,
  raw_user_meta_data::text as meta, created_at, updated_at, is_anonymous from auth.users"""


@dataclass(frozen=True)
class Grant:
    """A session just started or refreshed: what an access token and its answer are made of."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    session_created: datetime
    refresh_token: str


def new_refresh_token() -> str:
    """GoTrue's `crypto.SecureAlphanumeric(12)`: 8 random bytes, base32, lower case, 12 chars."""
    return base64.b32encode(secrets.token_bytes(8)).decode().lower()[:12]


async def user_by_email(conn: asyncpg.Connection, email: str, aud: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        _USER + " where lower(email) = lower($1) and aud = $2 and is_sso_user = false",
        email,
        aud,
    )


async def user_by_id(conn: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_USER + " where id = $1", user_id)


async def create_user(
    conn: asyncpg.Connection, email: str, hashed: str, aud: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """A confirmed email user (autoconfirm, as a local project signs users up) and its identity;
    None when the address is taken."""
    user_id = await conn.fetchval(
        """insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
             email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
           values ($1, gen_random_uuid(), $2, 'authenticated', $3, $4, now(), $5::jsonb,
             $6::jsonb, now(), now())
           on conflict (email) where (is_sso_user = false) do nothing
           returning id""",
        NIL_INSTANCE,
        aud,
        email,
        hashed,
        dumps({"provider": "email", "providers": ["email"]}),
        dumps({**data, "email_verified": True}),  # user.Confirm() adds email_verified
    )
    if user_id is None:
        return None
    identity = {
        "sub": str(user_id),
        "email": email,
        "email_verified": False,
        "phone_verified": False,
    }
    await conn.execute(
        """insert into auth.identities (provider_id, user_id, identity_data, provider,
             last_sign_in_at, created_at, updated_at)
           values ($1, $2, $3::jsonb, 'email', now(), now(), now())""",
        str(user_id),
        user_id,
        dumps({**data, **identity}),
    )
    return user_id


async def start_session(
    conn: asyncpg.Connection, user_id: uuid.UUID, user_agent: str | None, ip: str | None
) -> Grant:
    """A new session with its first refresh token (`models.GrantAuthenticatedUser`)."""
    session_id, created = await conn.fetchrow(
        """insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
           values (gen_random_uuid(), $1, now(), now(), 'aal1', $2, $3::inet)
           returning id, created_at""",
        user_id,
        user_agent,
        ip,
    )
    token = await _insert_token(conn, user_id, session_id, parent=None)
    await conn.execute("update auth.users set last_sign_in_at = now() where id = $1", user_id)
    return Grant(user_id, session_id, created, token)


async def _insert_token(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID, parent: str | None
) -> str:
    token = new_refresh_token()
    await conn.execute(
        """insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at,
             updated_at, parent, session_id)
           values ($1, $2, $3, false, now(), now(), $4, $5)""",
        NIL_INSTANCE,
        token,
        str(user_id),
        parent,
        session_id,
    )
    return token


async def session_created(conn: asyncpg.Connection, session_id: uuid.UUID) -> datetime | None:
    return await conn.fetchval("select created_at from auth.sessions where id = $1", session_id)


async def rotate(
    conn: asyncpg.Connection, presented: str, reuse_s: float = REUSE_INTERVAL_S
) -> Grant | AuthError:
    """Swap a refresh token for its child, inside the caller's transaction. An `AuthError` is
    returned, not raised, when the caller must commit first (a reuse that revoked the family)."""
    found = await conn.fetchrow(
        "select session_id from auth.refresh_tokens where token = $1", presented
    )
    if found is None:
        raise _token_not_found()
    session_id = found["session_id"]
    # every refresh of a session waits for the session's row: no two rotate one family at once
    session = await conn.fetchrow(
        "select user_id, created_at from auth.sessions where id = $1 for update", session_id
    )
    if session is None:
        raise bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found")
    token = await conn.fetchrow(
        """select id, revoked, now() - updated_at > make_interval(secs => $2) as stale
           from auth.refresh_tokens where token = $1 for update""",
        presented,
        reuse_s,
    )
    if token is None:  # its session was ended while we waited
        raise _token_not_found()
    issued = None
    if token["revoked"]:
        active = await conn.fetchrow(
            """select token, parent from auth.refresh_tokens
               where session_id = $1 and revoked is false order by id desc limit 1""",
            session_id,
        )
        if active is not None and active["parent"] == presented:
            issued = active["token"]
        elif token["stale"]:
            await conn.execute(
                """update auth.refresh_tokens set revoked = true, updated_at = now()
                   where session_id = $1 and revoked = false""",
                session_id,
            )
            return bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used")
    if issued is None:
        await conn.execute(
            "update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1",
            token["id"],
        )
        issued = await _insert_token(conn, session["user_id"], session_id, parent=presented)
    await conn.execute(
        "update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1",
        session_id,
    )
    return Grant(session["user_id"], session_id, session["created_at"], issued)


def _token_not_found() -> AuthError:
    return bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")


async def logout(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID | None, scope: str
) -> None:
    """GoTrue's `Logout`, `LogoutSession`, `LogoutAllExceptMe`: sessions go, tokens with them."""
    if session_id is not None and scope == "local":
        await conn.execute("delete from auth.sessions where id = $1", session_id)
    elif session_id is not None and scope == "others":
        await conn.execute(
            "delete from auth.sessions where id != $1 and user_id = $2", session_id, user_id
        )
    else:
        await conn.execute("delete from auth.sessions where user_id = $1", user_id)


# --- GoTrue's JSON ----------------------------------------------------------------------------


def go_time(value: datetime | None) -> str | None:
    """A timestamp as Go's `time.Time` marshals it: RFC 3339, UTC, no trailing zeros."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _set(out: dict[str, Any], key: str, value: datetime | None) -> None:
    """An `omitempty` timestamp: present only when set."""
    if value is not None:
        out[key] = go_time(value)


async def user_json(conn: asyncpg.Connection, user: asyncpg.Record) -> dict[str, Any]:
    """`models.User` as GoTrue marshals it (fields in its order, identities loaded)."""
    out: dict[str, Any] = {
        "id": str(user["id"]),
        "aud": user["aud"] or "",
        "role": user["role"] or "",
        "email": user["email"] or "",
    }
    _set(out, "email_confirmed_at", user["email_confirmed_at"])
    out["phone"] = user["phone"] or ""
    _set(out, "confirmation_sent_at", user["confirmation_sent_at"])
    _set(out, "confirmed_at", user["confirmed_at"])
    _set(out, "last_sign_in_at", user["last_sign_in_at"])
    out["app_metadata"] = orjson.loads(user["app"] or "{}")
    out["user_metadata"] = orjson.loads(user["meta"] or "{}")
    out["identities"] = await _identities(conn, user["id"])
    out["created_at"] = go_time(user["created_at"])
    out["updated_at"] = go_time(user["updated_at"])
    out["is_anonymous"] = bool(user["is_anonymous"])
    return out


async def _identities(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select id, provider_id, user_id, identity_data::text as data, provider,
             last_sign_in_at, created_at, updated_at, email
           from auth.identities where user_id = $1 order by created_at""",
        user_id,
    )
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "identity_id": str(row["id"]),
            "id": row["provider_id"],
            "user_id": str(row["user_id"]),
            "identity_data": orjson.loads(row["data"]),
            "provider": row["provider"],
        }
        _set(item, "last_sign_in_at", row["last_sign_in_at"])
        item["created_at"] = go_time(row["created_at"])
        item["updated_at"] = go_time(row["updated_at"])
        if row["email"]:
            item["email"] = row["email"]
        out.append(item)
    return out
