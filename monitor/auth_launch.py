"""`python -m monitor.auth_launch serve ...`: `panel serve`, with its basic-auth secret taken from
REALTIME_MONITOR_BASIC_AUTH instead of the command line.

Why not `panel serve --basic-auth SECRET`: every user of the machine can read a process's argv.
Why not PANEL_BASIC_AUTH: Panel lower-cases it (panel/config.py), so `Secret` would only match
`secret`. Setting `panel.config.basic_auth` before Panel parses its arguments is what
`--basic-auth` itself does (panel/command/serve.py), so the login page, the `user` cookie and
the logout route are Panel's unchanged. The variable is removed before any app code runs.
"""

from __future__ import annotations

import os
import sys

from monitor.auth import BASIC_AUTH_ENV


def main() -> None:
    secret = os.environ.pop(BASIC_AUTH_ENV, None)
    if secret:
        from panel.config import config

        config.basic_auth = secret  # a password, or the path of a JSON file {user: password}
    from panel.command import main as panel_main

    panel_main(sys.argv)


if __name__ == "__main__":
    main()
