#!/usr/bin/env bash
# System packages the suite needs and pip/npm cannot provide: Node.js (supabase-js conformance
# tests), Debian's Chromium (browser tests; never a downloaded browser build) and Debian's
# Prometheus (a real Prometheus scrapes the monitor; promtool checks the shipped rules).
set -euo pipefail
missing=()
command -v node >/dev/null || missing+=(nodejs npm)
command -v chromium >/dev/null || missing+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ -r /etc/debian_version ] && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "Missing system packages: ${missing[*]}." >&2
    echo "Install them first, e.g. on Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
