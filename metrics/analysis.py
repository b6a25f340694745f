"""Analysis of a recording: "which channel got slow, when, and why", with the dashboard's numbers.

A `Recording` is what `python -m monitor record` kept (or a `.json` capture), split into a frame
of events and the connection's and channels' logs. The functions below are pure: frames in, tidy
frames out (one row per observation, `datetime64[ns, UTC]` times), ready for hvPlot. They use the
same definitions as the store, so a notebook and the dashboard agree:

* latency sources as the store names them (`commit` for postgres_changes, `probe_rtt` and
  `probe_db` for the probes), percentiles as `np.percentile` (linear);
* user traffic excludes the monitor's probes;
* outages from `metrics.stats.outages`, presence from `PresenceRoster`, live-slot counters from
  `LiveSlotReplica`: the objects the dashboard's pages read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feeds.events import DISCONNECTED, STOPPED, Event, StatusChange, SubscriptionChange
from feeds.recording import Record, read_recording
from metrics.frames import outages_frame
from metrics.replica import DEFAULT_COUNTERS, LiveSlotReplica
from metrics.roster import PresenceRoster
from metrics.schema import to_utc
from metrics.stats import HIST_EDGES, PERCENTILES, histogram, outages

PROBE = "probe"
LATENCY_COLUMNS = ["count", "p50", "p95", "p99", "mean", "max"]


@dataclass(frozen=True)
class Recording:
    """A recording split by what it holds; `events` has one row per Event (payload included)."""

    events: pd.DataFrame
    statuses: tuple[StatusChange, ...]
    subscriptions: pd.DataFrame
    start: float  # epoch seconds of the first record
    end: float  # and of the last

    @property
    def seconds(self) -> float:
        return self.end - self.start


def load_recording(path: str | Path) -> Recording:
    """Read a `.parquet` or `.jsonl` recording, or a `.json` capture of Realtime frames."""
    return split_records(read_recording(path))


def split_records(records: Iterable[Record]) -> Recording:
    events: list[dict[str, Any]] = []
    statuses: list[StatusChange] = []
    subs: list[tuple[float, str, str, str | None]] = []
    for rec in records:
        if isinstance(rec, Event):
            events.append(rec.to_dict())
        elif isinstance(rec, StatusChange):
            statuses.append(rec)
        elif isinstance(rec, SubscriptionChange):
            subs.append((rec.at, rec.channel, rec.state, rec.error))
    times = [e["received_at"] for e in events] + [s.at for s in statuses] + [s[0] for s in subs]
    return Recording(
        events=events_frame(events),
        statuses=tuple(sorted(statuses, key=lambda s: s.at)),
        subscriptions=pd.DataFrame(
            {
                "time": to_utc([s[0] for s in subs]),
                "channel": pd.array([s[1] for s in subs], dtype="str"),
                "state": pd.array([s[2] for s in subs], dtype="str"),
                "error": pd.array([s[3] for s in subs], dtype="str"),
            }
        ),
        start=min(times) if times else math.nan,
        end=max(times) if times else math.nan,
    )


def events_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Event dicts to a frame: times as UTC datetimes, a `source` column naming the latency
    source the store would file the event's latency under (NaN when it has none)."""
    df = pd.DataFrame(list(rows), columns=list(Event.__slots__))
    df["received_at"] = to_utc(df["received_at"].to_numpy(dtype=float))
    df["commit_ts"] = to_utc(pd.to_numeric(df["commit_ts"]).to_numpy(dtype=float))
    df["latency_ms"] = pd.to_numeric(df["latency_ms"]).astype(float)
    df["source"] = latency_sources(df["kind"], df["event"])
    return df


def latency_sources(kinds: pd.Series, events: pd.Series) -> pd.Series:
    """`commit`, `probe_rtt`, `probe_db` or missing, per event, as `metrics.buffers` files them."""
    out = pd.Series(pd.NA, index=kinds.index, dtype="str")
    out[kinds == "postgres_changes"] = "commit"
    out[(kinds == PROBE) & (events == "rtt")] = "probe_rtt"
    out[(kinds == PROBE) & (events == "db")] = "probe_db"
    return out


def user_traffic(events: pd.DataFrame) -> pd.DataFrame:
    """The events that count as traffic: everything but the monitor's own probes."""
    return events[events["kind"] != PROBE]


# ---- latency ---------------------------------------------------------------------------------


def _latency_figures(values: pd.Series) -> pd.Series:
    arr = values.to_numpy(dtype=float)
    p50, p95, p99 = np.percentile(arr, PERCENTILES)
    figures = [arr.size, p50, p95, p99, arr.mean(), arr.max()]
    return pd.Series(figures, index=LATENCY_COLUMNS)


def _with_latency(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["source"].notna() & events["latency_ms"].notna()]


def latency_by_channel(events: pd.DataFrame) -> pd.DataFrame:
    """Per (channel, source): count, p50/p95/p99, mean and max in ms, slowest p95 first. These
    are the figures the store reports for a window holding the same events."""
    rows = _with_latency(events)
    if rows.empty:
        return pd.DataFrame(columns=["channel", "source", *LATENCY_COLUMNS])
    out = rows.groupby(["channel", "source"])["latency_ms"].apply(_latency_figures).unstack()
    out["count"] = out["count"].astype("int64")
    return out.reset_index().sort_values("p95", ascending=False, ignore_index=True)


def latency_over_time(events: pd.DataFrame, every: str = "10s") -> pd.DataFrame:
    """p50/p95/p99 and count per time bin, channel and source: when did which channel slow."""
    rows = _with_latency(events)
    columns = ["time", "channel", "source", *LATENCY_COLUMNS]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    bins = rows["received_at"].dt.floor(every).rename("time")
    grouped = rows.groupby([bins, rows["channel"], rows["source"]])["latency_ms"]
    out = grouped.apply(_latency_figures).unstack().reset_index()[columns]
    return out.astype({"count": "int64"})


def latency_distribution(events: pd.DataFrame) -> pd.DataFrame:
    """Per channel and source, counts in the store's fixed log-spaced latency bins (from, to ms),
    empty bins left out: the shape behind the percentiles (one slow mode, or a long tail?)."""
    frames = []
    for (channel, source), rows in _with_latency(events).groupby(["channel", "source"]):
        counts = histogram(rows["latency_ms"].to_numpy(dtype=float))
        edges = np.r_[0.0, HIST_EDGES, np.inf]
        keep = np.flatnonzero(counts)
        frames.append(
            pd.DataFrame(
                {
                    "channel": channel,
                    "source": source,
                    "from_ms": edges[keep],
                    "to_ms": edges[keep + 1],
                    "count": counts[keep],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["channel", "source", "from_ms", "to_ms", "count"])
    return pd.concat(frames, ignore_index=True)


def slowest(events: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` slowest events with a latency, slowest first, with what they carried: a row
    change's record, or the probe's payload."""
    rows = _with_latency(events).nlargest(n, "latency_ms")
    payload = rows["payload"].map(_carried)
    return rows[["received_at", "channel", "source", "event", "table", "latency_ms"]].assign(
        payload=payload
    )


def _carried(payload: Any) -> Any:
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict):
        return data.get("record") or data.get("old_record")
    return payload


# ---- traffic ---------------------------------------------------------------------------------


def rate_grid(events: pd.DataFrame, every: str = "10s") -> pd.DataFrame:
    """User messages per second in each (time bin, channel), every cell present (zero when
    nothing arrived, which is what an outage looks like): the data of a rate heatmap."""
    rows = user_traffic(events)
    if rows.empty:
        return pd.DataFrame(columns=["time", "channel", "messages", "per_s"])
    bins = rows["received_at"].dt.floor(every)
    counts = rows.groupby([bins.rename("time"), rows["channel"]]).size()
    grid = pd.MultiIndex.from_product(
        [
            pd.date_range(bins.min(), bins.max(), freq=every),
            sorted(rows["channel"].unique()),
        ],
        names=["time", "channel"],
    )
    out = counts.reindex(grid, fill_value=0).rename("messages").reset_index()
    out["per_s"] = out["messages"] / pd.Timedelta(every).total_seconds()
    return out


# ---- connection ------------------------------------------------------------------------------


def outage_table(rec: Recording) -> pd.DataFrame:
    """Every outage of the recording (start, end, duration, the server's first reason), as the
    dashboard's timeline counts them; one still open at the end runs to the end. The recorder's
    own stop at the end is not an outage."""
    statuses, end = rec.statuses, rec.end
    if statuses and (statuses[-1].status, statuses[-1].reason) == (DISCONNECTED, STOPPED):
        statuses, end = statuses[:-1], statuses[-1].at
    return outages_frame(outages(statuses, end))


def channel_errors(rec: Recording) -> pd.DataFrame:
    """Channel states that are not subscribed (CHANNEL_ERROR, TIMED_OUT), with the reason: a
    refused join, or a channel the server closed."""
    subs = rec.subscriptions
    return subs[subs["state"].isin(["CHANNEL_ERROR", "TIMED_OUT"])].reset_index(drop=True)


# ---- presence and live slots -----------------------------------------------------------------


def presence_membership(events: pd.DataFrame) -> pd.DataFrame:
    """Members per presence channel after each presence message, replayed through the roster
    the Presence page uses (so a full state and a diff count the same way there and here)."""
    roster = PresenceRoster(max_keys=1_000_000, log_size=1)
    times, channels, members = [], [], []
    for rec in events[events["kind"] == "presence"].itertuples(index=False):
        event = Event(rec.received_at.timestamp(), rec.channel, "presence", rec.event)
        event.payload = rec.payload
        if roster.apply(event):
            times.append(rec.received_at)
            channels.append(rec.channel)
            members.append(roster.count(rec.channel))
    return pd.DataFrame({"time": times, "channel": channels, "members": members})


def live_slot_history(
    events: pd.DataFrame,
    schema: str = "group",
    table: str = "live_slots",
    key: str = "itinerary_id",
    counters: Sequence[str] = DEFAULT_COUNTERS,
) -> pd.DataFrame:
    """Each live-slot row's counters at every change, in commit order, through the replica the
    Live slots page uses (late and duplicate changes ignored as there): time, key, counters."""
    rows = events[(events["kind"] == "postgres_changes") & (events["table"] == table)]
    replica = LiveSlotReplica(schema, table, key, counters, history_len=max(1, len(rows)))
    for rec in rows.itertuples(index=False):
        commit = rec.commit_ts.timestamp() if not pd.isna(rec.commit_ts) else None
        replica.apply(
            Event(
                rec.received_at.timestamp(),
                rec.channel,
                rec.kind,
                rec.event,
                rec.schema,
                rec.table,
                commit,
                payload=rec.payload,
            )
        )
    parts = [
        pd.DataFrame(hist, columns=["time", *counters]).assign(key=k)
        for k, hist in replica.history_since(-math.inf)
    ]
    if not parts:
        return pd.DataFrame(columns=["time", "key", *counters])
    out = pd.concat(parts, ignore_index=True)
    out["time"] = to_utc(out["time"].to_numpy(dtype=float))
    return out[["time", "key", *counters]].sort_values(["key", "time"], ignore_index=True)


def implied_live_slot_counters(presence_rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The three counters EcoTrips' seed defines, counted over `concierge.presence` rows:
    travellers who opted in; of those, visible; of those, online."""
    opted = [r for r in presence_rows if r.get("opt_in")]
    visible = [r for r in opted if r.get("visible")]
    online = [r for r in visible if r.get("status") == "online"]
    return {
        "presence_opt_in": float(len(opted)),
        "presence_visible": float(len(visible)),
        "presence_online": float(len(online)),
    }
