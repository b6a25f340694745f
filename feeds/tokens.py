"""Keeping a user token fresh: Realtime closes a private channel whose JWT expires, so a watch that
joins with `[connection] access_token` must renew it before `exp` and send the new one on every
joined channel (issue 12).

`TokenKeeper` knows *when* (`due_in`, from the token's own `exp`, read without verifying: the
server verifies, the keeper only schedules) and *how* (`fresh`, by the `[auth] refresh` method):

* `gotrue`: Supabase Auth's refresh-token grant. GoTrue rotates the refresh token on every use
  and revokes a family whose old token is replayed later, so the newest one is kept (in memory
  only: a restarted monitor starts again from the configured one, which must still be valid);
* `command`: a shell command that prints a JWT (a secrets manager's CLI, `python -m
  sandbox.token`), run with the monitor's environment;
* `service_role`: the service_role key itself, for server-side watches; it lives for years, so it
  is applied once and never renewed.

`run(apply, report)` is the loop the Supervisor runs beside its sessions: it sleeps until the
refresh is due, fetches, and awaits `apply(token)`; a failed refresh is `report`ed in words a
person can act on (GoTrue's own `error_description`/`msg`, the command's last stderr line) and
retried after `retry_s`, so a GoTrue outage shorter than the token's remaining life costs nothing.

A token is due when `refresh_before_s` remain before its `exp`, but never before 80% of its
lifetime has passed: with the defaults an hour's token is renewed a minute before it expires, a
2-minute token after ~96 s, and a 6-second one after 4.8 s (a margin larger than the lifetime
would otherwise renew it in a busy loop). The lifetime is `exp - iat`, or from the moment the
keeper took the token when it has no `iat`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from .settings import AuthConfig

log = logging.getLogger("feeds.tokens")

EARLIEST_SHARE = 0.8  # a token is never renewed before this share of its lifetime has passed
Apply = Callable[[str], Awaitable[Any]]
Report = Callable[[str], Any]  # may be a coroutine function; its result is awaited if awaitable


class TokenRefreshError(Exception):
    """A refresh that did not produce a token; the message is for a person (and an incident)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def claims_of(token: str) -> dict[str, Any] | None:
    """A JWT's payload, unverified (base64url JSON between the two dots); None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    return claims if isinstance(claims, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def expires_at(token: str) -> float | None:
    """The JWT's `exp` (Unix seconds), read without verifying; None if not a JWT or no exp."""
    claims = claims_of(token)
    return None if claims is None else _number(claims.get("exp"))


def project_base(url: str) -> str:
    """The project's HTTP base from a project URL or a Realtime URL: `wss://ref.supabase.co/
    realtime/v1/websocket?apikey=...` and `https://ref.supabase.co/` both give
    `https://ref.supabase.co` (a path before `/realtime/v1`, as behind a proxy, is kept)."""
    parts = urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.split("/realtime/v1", 1)[0].rstrip("/")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class TokenKeeper:
    """Holds the current access token and renews it by the configured method (see the module)."""

    http_timeout_s = 15.0  # one refresh-token grant
    command_timeout_s = 60.0  # one run of the command; a hung command is killed

    def __init__(self, cfg: AuthConfig, *, url: str, key: str, token: str) -> None:
        self.cfg = cfg
        self.base_url = project_base(url)
        self.key = key
        self.refresh_token = cfg.refresh_token  # GoTrue's rotation replaces it
        self.token = token
        self._taken_at = time.time()
        self._lock = asyncio.Lock()

    def _take(self, token: str) -> None:
        self.token = token
        self._taken_at = time.time()

    def due_in(self, now: float | None = None) -> float | None:
        """Seconds until the token should be renewed (0: now); None when it never needs it."""
        cfg = self.cfg
        if cfg.refresh == "none":
            return None
        if cfg.refresh == "service_role":
            return None if self.token == cfg.service_role_key else 0.0
        if not self.token:
            return 0.0
        claims = claims_of(self.token) or {}
        exp = _number(claims.get("exp"))
        if exp is None:
            return None  # no exp: it does not expire, or we cannot tell when; nothing to schedule
        iat = _number(claims.get("iat"))
        start = iat if iat is not None and iat < exp else min(self._taken_at, exp)
        margin = min(cfg.refresh_before_s, (1 - EARLIEST_SHARE) * (exp - start))
        now = time.time() if now is None else now
        return max(0.0, exp - margin - now)

    async def fresh(self) -> str:
        """A new token by the configured method; it becomes `token`. Raises TokenRefreshError."""
        async with self._lock:  # two rotations of one refresh token at once would race
            method = self.cfg.refresh
            if method == "gotrue":
                token = await self._gotrue()
            elif method == "command":
                token = await self._command()
            elif method == "service_role":
                token = self.cfg.service_role_key
            else:
                raise TokenRefreshError('[auth] refresh = "none": the token is not renewed')
            self._take(token)
            return token

    async def _gotrue(self) -> str:
        url = f"{self.base_url}/auth/v1/token"
        try:
            async with httpx.AsyncClient(timeout=self.http_timeout_s) as http:
                r = await http.post(
                    url,
                    params={"grant_type": "refresh_token"},
                    headers={"apikey": self.key},
                    json={"refresh_token": self.refresh_token},
                )
        except httpx.HTTPError as exc:
            detail = str(exc) or type(exc).__name__
            raise TokenRefreshError(f"token refresh: could not reach {url}: {detail}") from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code != 200:
            raise TokenRefreshError(
                f"token refresh refused by GoTrue: HTTP {r.status_code}: {_gotrue_words(r, body)}"
            )
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise TokenRefreshError(
                f"token refresh: GoTrue answered HTTP 200 without an access_token: {r.text[:200]}"
            )
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self.refresh_token = rotated
        return access

    async def _command(self) -> str:
        command = self.cfg.command
        # its own process group: a hung command is killed with everything it started, since a
        # grandchild that keeps stdout open would keep `communicate()` (and `wait()`) waiting
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        )
        try:
            # shielded: a stop that lands while the shell starts must still find it to kill it
            proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await _stop(await spawn)
            raise
        except OSError as exc:
            raise TokenRefreshError(f"token command could not start: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.command_timeout_s)
        except TimeoutError:
            await _stop(proc)
            # only the program: an incident's words reach every page, and a command line may
            # hold a secret (curl -u user:password ...)
            program = command.split()[0] if command.split() else command
            raise TokenRefreshError(
                f"token command did not finish within {self.command_timeout_s:g} s: {program} …"
            ) from None
        except asyncio.CancelledError:  # the watch is stopping: leave nothing running
            await _stop(proc)
            raise
        lines = err.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1].strip()}" if lines else ""
        if proc.returncode != 0:
            raise TokenRefreshError(f"token command exited with {proc.returncode}{last}")
        token = out.decode(errors="replace").strip()
        if not token:
            raise TokenRefreshError(f"token command printed nothing on stdout{last}")
        if len(token.split()) > 1:
            raise TokenRefreshError(
                "token command printed more than the token on stdout: it must print only the "
                "JWT (send anything else to stderr)"
            )
        return token

    async def run(self, apply: Apply, report: Report) -> None:
        """Renew forever: sleep until due, `fresh()`, `await apply(token)`. A failed refresh is
        `report`ed and retried after `retry_s`. Returns at once for refresh = "none", and when the
        token has nothing left to renew (the service_role key, once applied; a token without exp).

        `apply` should not raise; if it does, the error is logged and the loop goes on (the new
        token is kept in `token` for the next session), since a watch must not stop renewing."""
        while True:
            due = self.due_in()
            if due is None:
                return
            if due > 0:
                await asyncio.sleep(due)
            try:
                token = await self.fresh()
            except TokenRefreshError as exc:
                await self._report(report, exc.message)
                await asyncio.sleep(self.cfg.retry_s)
                continue
            try:
                await apply(token)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying the renewed token failed")
            if self.due_in() == 0:  # a new token already due: never renew in a busy loop
                await self._report(report, _stale(token))
                await asyncio.sleep(self.cfg.retry_s)

    @staticmethod
    async def _report(report: Report, message: str) -> None:
        log.warning("%s", message)
        outcome = report(message)
        if inspect.isawaitable(outcome):
            await outcome


def _stale(token: str) -> str:
    exp = expires_at(token)
    left = "no exp" if exp is None else f"{exp - time.time():.0f} s left"
    return (
        f"the renewed token is due for renewal at once ({left}): it is issued with too short a "
        "life, or this machine's clock is ahead of the issuer's"
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill the command's process group and reap it (its pipes close with the group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 5)


def _gotrue_words(r: httpx.Response, body: Any) -> str:
    """GoTrue's own words for a refusal, in whichever shape it answered: the OAuth one
    (`error_description`), the older (`msg`, `error_code`) or the 2024 one (`message`, `code`)."""
    if not isinstance(body, dict):
        return r.text.strip()[:200] or r.reason_phrase
    words = body.get("error_description") or body.get("msg") or body.get("message")
    code = body.get("error_code") or body.get("error")
    if not code and isinstance(body.get("code"), str):
        code = body["code"]
    if words and code and code != words:
        return f"{words} ({code})"
    return str(words or code or r.text.strip()[:200] or r.reason_phrase)
