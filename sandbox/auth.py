"""HS256 JWTs as Supabase issues them, and the exact errors Realtime answers bad ones with.

The same check runs in three places with three wordings (reference §1.1, §2.4, §6.5): at connect
time it becomes an HTTP 401, at join time a `phx_reply` error with a code prefix, and mid-session a
`system` error. `TokenError` carries the bare message and each caller adds its own framing.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

TEN_YEARS = 10 * 365 * 24 * 3600


class TokenError(Exception):
    """A token Realtime would refuse; `message` is the server's wording, `code` its join prefix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def join_reason(self) -> str:
        return f"{self.code}: {self.message}"


MISSING = TokenError("InvalidJWTToken", "API key is missing")


def new_secret() -> str:
    """A random HS256 secret, long enough for PyJWT's key-length check."""
    return secrets.token_urlsafe(48)


def mint(secret: str, role: str, *, ttl: int = TEN_YEARS, **claims: Any) -> str:
    """Sign a token the way the Supabase CLI's demo keys are built (iss, role, iat, exp)."""
    now = int(time.time())
    body = {"iss": "supabase-sandbox", "role": role, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


@dataclass(frozen=True)
class Claims:
    """Verified claims plus the raw token, which PostgREST-style RLS checks need."""

    token: str
    claims: dict[str, Any]

    @property
    def role(self) -> str:
        return str(self.claims.get("role", "anon"))

    @property
    def sub(self) -> str | None:
        sub = self.claims.get("sub")
        return None if sub is None else str(sub)

    @property
    def exp(self) -> float:
        return float(self.claims["exp"])


def verify(token: str | None, secret: str) -> Claims:
    """Check signature, `role` and `exp` like `ChannelsAuthorization.authorize_conn`."""
    if not token:
        raise MISSING
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("MalformedJWT", "The token provided is not a valid JWT") from None
    if header.get("alg") not in ("HS256", "HS384", "HS512"):
        raise TokenError("JwtSignatureError", "Failed to validate JWT signature")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256", "HS384", "HS512"],
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenError("JwtSignatureError", "Failed to validate JWT signature") from None
    except jwt.PyJWTError:
        raise TokenError("MalformedJWT", "The token provided is not a valid JWT") from None
    if "role" not in claims or "exp" not in claims:
        raise TokenError("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
    try:
        exp = float(claims["exp"])
    except (TypeError, ValueError):
        raise TokenError("InvalidJWTToken", "Token expiration time is invalid") from None
    if exp <= 0:
        raise TokenError("InvalidJWTToken", "Token expiration time is invalid")
    now = time.time()
    if exp <= now:
        ago = round(now - exp)
        raise TokenError("InvalidJWTToken", f"Token has expired {ago} seconds ago")
    return Claims(token, claims)


@dataclass(frozen=True)
class TokenVerifier:
    """Checks tokens against the project's secret; what the parts that only verify are given."""

    secret: str

    def verify(self, token: str | None) -> Claims:
        return verify(token, self.secret)


@dataclass(frozen=True)
class ProjectKeys:
    """The project's secret and the two API keys minted from it, as a Supabase project has them;
    what the parts that sign tokens (the demo's simulated users) are given."""

    secret: str
    anon: str
    service_role: str

    @classmethod
    def create(cls, secret: str) -> ProjectKeys:
        return cls(secret, mint(secret, "anon"), mint(secret, "service_role"))

    def user_token(self, sub: str, role: str = "authenticated", **claims: Any) -> str:
        return mint(self.secret, role, sub=sub, **claims)


def connect_error(err: TokenError) -> str:
    """The HTTP 401 body text for a refused websocket upgrade (reference §1.1)."""
    if err.message.startswith("Token has expired"):
        return "Token has expired"
    return err.message


def load_secret(data_dir: Path) -> str:
    """The data directory's JWT secret, kept in `sandbox.json` (created, private, if missing), so
    tokens minted for a data directory stay valid across restarts."""
    path = data_dir / "sandbox.json"
    if path.exists():
        return str(json.loads(path.read_text())["jwt_secret"])
    secret = new_secret()
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"jwt_secret": secret}))
    path.chmod(0o600)
    return secret
