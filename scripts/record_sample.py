"""Make the sample recording `notebooks/explore_recording.ipynb` reads, from the bundled sandbox.

It records the demo traffic of the five seed systems for `--seconds` (default 100). A third of the
way in and two thirds, it drains every socket the way a tenant restart does (`POST
/sandbox/v1/disconnect`); halfway, it commits a bulk backfill of `--backfill` rows to a published
table nobody subscribes to, which every postgres_changes channel waits behind while the WAL is
decoded. So the recording holds outages, reconnects and a slow spell as well as traffic:

    .venv/bin/python scripts/record_sample.py --out notebooks/data/sandbox_sample.parquet
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.monitor import Monitor, RecorderSink  # noqa: E402
from feeds.recording import Recorder  # noqa: E402
from monitor.config import load_config  # noqa: E402


def disconnect_all(url: str, key: str) -> int:
    """Drain every socket on the sandbox; the number of sockets it closed."""
    request = urllib.request.Request(
        f"{url}/sandbox/v1/disconnect",
        method="POST",
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return int(json.load(resp)["disconnected"])


def backfill(db_url: str, rows: int) -> None:
    """One transaction of `rows` inserts into a published table that no channel watches."""
    import psycopg2

    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("create table if not exists public.sample_backfill (id int, pad text)")
        cur.execute("select seed.publish('public', array['sample_backfill'])")
        cur.execute(
            "insert into public.sample_backfill select g, repeat('x', 200)"
            " from generate_series(1, %s) g",
            (rows,),
        )
    conn.close()


async def record(out: Path, seconds: float, rows: int) -> int:
    out.unlink(missing_ok=True)
    config = load_config(None)
    loop = asyncio.get_running_loop()
    with Recorder(out) as recorder:
        monitor = Monitor(config, [RecorderSink(recorder)])
        await monitor.start()
        sandbox = monitor.sandbox
        assert sandbox is not None, "this script records the bundled sandbox"
        started = time.monotonic()

        async def at(fraction: float) -> None:
            await asyncio.sleep(max(0.0, started + seconds * fraction - time.monotonic()))

        try:
            for fraction in (1 / 3, 2 / 3):
                await at(fraction)
                closed = disconnect_all(sandbox.url, sandbox.service_role_key)
                print(f"drained {closed} sockets", file=sys.stderr)
                if fraction < 0.5:
                    await at(0.5)
                    await loop.run_in_executor(None, backfill, sandbox.db_url, rows)
                    print(f"committed a backfill of {rows} rows", file=sys.stderr)
            await at(1.0)
        finally:
            await monitor.stop()
    return recorder.count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("notebooks/data/sandbox_sample.parquet"))
    parser.add_argument("--seconds", type=float, default=100.0)
    parser.add_argument("--backfill", type=int, default=200_000, help="rows in the backfill")
    args = parser.parse_args()
    count = asyncio.run(record(args.out, args.seconds, args.backfill))
    size = args.out.stat().st_size
    print(f"{count} records, {size / 1024:.0f} KiB in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
