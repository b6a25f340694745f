"""Record the event stream to JSONL or Parquet, and replay it into a store at 1x or faster.

A recording holds everything a store is fed: Events, and the status and subscription changes
and the problems (as rows of kind `_status` / `_subscription` / `_problem`), so a replay
reproduces uptime, outages, subscribe states and incidents as well as traffic. The format follows
the file name: `.jsonl` (one JSON object per line, easy to grep) or `.parquet` (columnar,
payload kept as JSON text because payloads have no fixed schema); `.json` is read too, as
Realtime frames captured off the wire (`ops/fixtures/`), so a seed's fixtures replay like a
recording. Writing is buffered and flushed every `flush_every` rows, so a recorder's memory is
bounded however long it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from .events import Event, StatusChange, SubscriptionChange, normalise
from .problems import Problem

STATUS_KIND = "_status"
SUBSCRIPTION_KIND = "_subscription"
PROBLEM_KIND = "_problem"
COLUMNS = [
    "received_at",
    "channel",
    "kind",
    "event",
    "schema",
    "table",
    "commit_ts",
    "latency_ms",
    "size",
    "payload",
]

Record = Event | StatusChange | SubscriptionChange | Problem


class Sink(Protocol):
    def ingest(self, event: Event) -> None: ...
    def record_status(self, change: StatusChange) -> None: ...
    def record_subscription(self, change: SubscriptionChange) -> None: ...
    def record_problem(self, problem: Problem) -> None: ...


def _row(rec: Record) -> dict[str, Any]:
    if isinstance(rec, Event):
        return rec.to_dict()
    if isinstance(rec, StatusChange):
        return {
            "received_at": rec.at,
            "channel": "",
            "kind": STATUS_KIND,
            "event": rec.status,
            "schema": None,
            "table": None,
            "commit_ts": None,
            "latency_ms": None,
            "size": 0,
            "payload": {"reason": rec.reason},
        }
    if isinstance(rec, Problem):
        return {
            "received_at": rec.at,
            "channel": rec.channel,
            "kind": PROBLEM_KIND,
            "event": rec.cls,
            "schema": None,
            "table": None,
            "commit_ts": None,
            "latency_ms": None,
            "size": 0,
            "payload": {
                "message": rec.message,
                "action": rec.action,
                "detail": rec.detail,
                "resolved": rec.resolved,
            },
        }
    return {
        "received_at": rec.at,
        "channel": rec.channel,
        "kind": SUBSCRIPTION_KIND,
        "event": rec.state,
        "schema": None,
        "table": None,
        "commit_ts": None,
        "latency_ms": None,
        "size": 0,
        "payload": {"error": rec.error},
    }


def _record(row: dict[str, Any]) -> Record:
    kind = row["kind"]
    payload = row.get("payload") or {}
    if kind == STATUS_KIND:
        return StatusChange(float(row["received_at"]), row["event"], payload.get("reason"))
    if kind == SUBSCRIPTION_KIND:
        return SubscriptionChange(
            float(row["received_at"]), row["channel"], row["event"], payload.get("error")
        )
    if kind == PROBLEM_KIND:
        return Problem(
            float(row["received_at"]),
            row["channel"],
            row["event"],
            str(payload.get("message") or ""),
            str(payload.get("action") or ""),
            payload.get("detail") or {},
            bool(payload.get("resolved")),
        )
    return Event.from_dict(row)


class Recorder:
    """Append-only writer; use as `with Recorder(path) as rec: rec.event(e)`."""

    def __init__(self, path: str | Path, flush_every: int = 1_000) -> None:
        self.path = Path(path)
        self.format = _format(self.path)
        self.flush_every = flush_every
        self.count = 0
        self._buffer: list[dict[str, Any]] = []
        self._writer: Any = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()

    def event(self, event: Event) -> None:
        self._add(_row(event))

    def status(self, change: StatusChange) -> None:
        self._add(_row(change))

    def subscription(self, change: SubscriptionChange) -> None:
        self._add(_row(change))

    def problem(self, problem: Problem) -> None:
        self._add(_row(problem))

    def _add(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self.count += 1
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        if self.format == "jsonl":
            self._file.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
            self._file.flush()
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {c: [r.get(c) for r in rows] for c in COLUMNS}
        columns["payload"] = [orjson.dumps(p).decode() for p in columns["payload"]]
        table = pa.table(columns, schema=_schema())
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, _schema())
        self._writer.write_table(table)

    def close(self) -> None:
        self.flush()
        if self.format == "jsonl":
            self._file.close()
        elif self._writer is not None:
            self._writer.close()
        elif self.count == 0:
            import pyarrow.parquet as pq

            pq.write_table(_schema().empty_table(), self.path)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("received_at", pa.float64()),
            ("channel", pa.string()),
            ("kind", pa.string()),
            ("event", pa.string()),
            ("schema", pa.string()),
            ("table", pa.string()),
            ("commit_ts", pa.float64()),
            ("latency_ms", pa.float64()),
            ("size", pa.int64()),
            ("payload", pa.string()),
        ]
    )


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".json":
        return "frames"
    raise ValueError(
        f"{path}: unknown recording format {suffix!r}; use .jsonl or .parquet (a recording), "
        "or .json (Realtime frames as captured)"
    )


def read_frames(path: str | Path) -> Iterator[Event]:
    """The data frames of a `.json` capture (one Realtime frame, or a list of them, as the server
    sent them: `{"topic", "event", "payload", "ref"}`) as Events. A capture has no receive times,
    so each event is dated by its commit timestamp when it has one (latency 0), else just after
    the previous one; replies and other control frames are skipped."""
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    frames = data if isinstance(data, list) else [data]
    at = time.time()
    for n, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise ValueError(f"{path}: frame {n} is not an object")
        size = len(orjson.dumps(frame))
        try:
            event = normalise(frame, size, at)
        except ValueError as exc:
            raise ValueError(f"{path}: frame {n}: {exc}") from None
        if event is None:
            continue
        if event.commit_ts is not None:
            event.received_at, event.latency_ms = event.commit_ts, 0.0
        at = event.received_at + 0.001
        yield event


def read_recording(path: str | Path) -> Iterator[Record]:
    """Every record of a recording, in the order written."""
    path = Path(path)
    if _format(path) == "frames":
        yield from read_frames(path)
        return
    if _format(path) == "jsonl":
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield _record(orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{path}:{n}: not a recording row ({exc})") from None
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            row["payload"] = orjson.loads(row["payload"]) if row["payload"] else {}
            yield _record(row)


def load_events(path: str | Path) -> list[Event]:
    """Just the Events (for notebooks that want a frame of what was recorded)."""
    return [r for r in read_recording(path) if isinstance(r, Event)]


def _feed(sink: Sink, rec: Record) -> None:
    if isinstance(rec, Event):
        sink.ingest(rec)
    elif isinstance(rec, StatusChange):
        sink.record_status(rec)
    elif isinstance(rec, Problem):
        record = getattr(sink, "record_problem", None)  # a sink may not care for problems
        if record is not None:
            record(rec)
    else:
        sink.record_subscription(rec)


def _shifted(rec: Record, offset: float, t0: float, speed: float) -> Record:
    def at(t: float) -> float:
        return t0 + offset + (t - t0) / speed

    if isinstance(rec, Event):
        out = Event.from_dict(rec.to_dict())
        out.received_at = at(rec.received_at)
        if rec.commit_ts is not None:
            out.commit_ts = at(rec.commit_ts)
        return out
    if isinstance(rec, StatusChange):
        return StatusChange(at(rec.at), rec.status, rec.reason)
    if isinstance(rec, Problem):
        return replace(rec, at=at(rec.at))
    return SubscriptionChange(at(rec.at), rec.channel, rec.state, rec.error)


async def replay(path: str | Path, sink: Sink, speed: float | None = 1.0) -> int:
    """Feed a recording into `sink`.

    `speed=None` feeds everything at once with the recorded timestamps (analysis: snapshot the
    store with `now=` the recording's end). A finite speed plays it back in real time scaled by
    `speed`, with timestamps moved to now, so a live dashboard shows it as if it were happening.
    """
    count = 0
    if speed is None:
        for rec in read_recording(path):
            _feed(sink, rec)
            count += 1
        return count
    if speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    start_wall = time.time()
    t0: float | None = None
    for rec in read_recording(path):
        at = rec.received_at if isinstance(rec, Event) else rec.at
        if t0 is None:
            t0 = at
        offset = start_wall - t0
        due = start_wall + (at - t0) / speed
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        _feed(sink, _shifted(rec, offset, t0, speed))
        count += 1
    return count
