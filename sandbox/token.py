"""Mint a JWT the sandbox accepts, for watch profiles and your own clients.

    python -m sandbox.token --sub UUID [--role authenticated] [--ttl 1d] [--data-dir DIR]

prints one token on stdout, signed with the sandbox's secret. The secret belongs to the data
directory (`sandbox.json`, the same file `python -m sandbox serve` reads; default: the
`SANDBOX_DATA_DIR` environment variable or the user cache directory, as for `serve`), so a token
stays valid across restarts of the same sandbox. If the directory has no secret yet, one is
created exactly as `serve` would create it, so tokens can be minted before the first start.

`--role authenticated` (the default) adds `aud: "authenticated"`, as Supabase Auth's access tokens
carry it; RLS policies see `--sub` through `auth.uid()`. `--role service_role` needs no `--sub`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import auth

DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
ROLES = ("anon", "authenticated", "service_role")


def ttl_seconds(text: str) -> int:
    m = DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 3600, 90m, 12h or 7d")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m sandbox.token", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--sub", help="the user's id (auth.uid()); required unless --role is not a user"
    )
    ap.add_argument("--role", default="authenticated", choices=ROLES)
    ap.add_argument(
        "--ttl", type=ttl_seconds, default=ttl_seconds("1d"), help="lifetime (default 1d)"
    )
    ap.add_argument("--email", help="an email claim, for policies that read auth.email()")
    ap.add_argument("--data-dir", type=Path, help="the sandbox's state directory")
    ap.add_argument("--jwt-secret", help="sign with this secret instead of the data dir's")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "authenticated" and not args.sub:
        print("sandbox.token: --sub is required for --role authenticated", file=sys.stderr)
        return 2
    if args.jwt_secret:
        secret = args.jwt_secret
    else:
        from .database import default_data_dir

        secret = auth.load_secret(args.data_dir or default_data_dir())
    claims: dict[str, str] = {}
    if args.sub:
        claims["sub"] = args.sub
    if args.role == "authenticated":
        claims["aud"] = "authenticated"
    if args.email:
        claims["email"] = args.email
    print(auth.mint(secret, args.role, ttl=args.ttl, **claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
