"""Passwords as GoTrue takes them: a local Supabase project's strength rule and bcrypt hashes.

The rule is the one a `supabase start` project has (supabase/auth internal/api/password.go,
conf/configuration.go): at least 6 characters, at most 72 bytes (bcrypt's limit, so longer
passwords are refused rather than cut), no required character classes, no leak check. Hashes are
bcrypt at cost 10 with the `$2a$` prefix, as GoTrue's Go bcrypt writes them
(internal/crypto/password.go), so users move between the sandbox and a real project, and a user
seeded by SQL with any bcrypt hash (seed scripts for Supabase make them with pgcrypto's
`crypt(password, gen_salt('bf'))`) signs in. bcrypt takes tens of milliseconds by design, so it
runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Final

import bcrypt

from .errors import AuthError, validation

MIN_LENGTH: Final = 6
MAX_BYTES: Final = 72
COST: Final = 10


def check_strength(password: str) -> None:
    """GoTrue's `checkPasswordStrength`: too long is a 400, too short a weak-password 422."""
    size = len(password.encode())
    if size > MAX_BYTES:
        raise validation(f"Password cannot be longer than {MAX_BYTES} characters")
    if size < MIN_LENGTH:
        raise AuthError(
            422,
            "weak_password",
            f"Password should be at least {MIN_LENGTH} characters.",
            reasons=["length"],
        )


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST, prefix=b"2a")).decode()


def _matches(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # not a bcrypt hash (GoTrue's argon2 and scrypt imports are not emulated)
        return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hash, password)


async def matches(password: str, hashed: str) -> bool:
    return await asyncio.to_thread(_matches, password, hashed)
