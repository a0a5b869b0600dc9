"""Latency at a fixed offered load: from handing a raw record to the producer to
(a) its touchpoint row being in ClickHouse and (b) a row of its session being in
ClickHouse.

    sent = produce_live(...)                                   # per record: offset, send time
    ... wait until the pipeline stored them ...
    touchpoints = touchpoint_latencies(rows, sent)             # seconds, per event id
    watch = FirstRows(worker.query, "sessions", "session_id", since=began).start()
    ... send, wait ...
    first_session_rows = watch.stop()                          # session id -> first insert
    sessions = session_latencies(rows, first_session_rows, sent)

Resolution: both use the rows' `_inserted_at` (ClickHouse `now64(3)` when the insert
runs, 1 ms). That clock is this machine's wall clock, as is the send time.

The traffic is live (event time = wall clock): a live touchpoint gets a provisional row
at arrival, so (a) is the time to its first row. A live touchpoint that opens a session
gets a provisional row of it at arrival too (its real rows follow when the engine
releases the touchpoint, the allowed lateness later), so (b) is the time to the *first*
insert of any row of the touchpoint's session, counted only while the traffic runs (see
`Bench.latency`). A touchpoint whose
session was already queryable before it was sent (it joined a session an earlier record
opened) has no such latency: it is counted apart (`SessionLatencies.already`), not as a
negative sample.

`sessions` is a ReplacingMergeTree on the session's version: a background merge keeps
only the highest version, so an `opened` row can vanish behind the `closed` one seconds
after its insert. A single query afterwards would then see the later row; `FirstRows`
polls the table while the live traffic runs (a small aggregate every 0.5 s, through the
worker, which pays for it) and keeps the earliest insert seen per session.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.bench.traffic import Sent


def sent_by_event(rows: Iterable[Mapping[str, Any]], sent: Iterable[Sent]) -> dict[str, float]:
    """event id -> send time of its raw record, for the paced records among touchpoint
    rows (which carry raw_topic, raw_partition, raw_offset and event_id)."""
    sent_at = {(s.topic, s.partition, s.offset): s.sent_at for s in sent}
    found: dict[str, float] = {}
    for row in rows:
        at = sent_at.get((row["raw_topic"], int(row["raw_partition"]), int(row["raw_offset"])))
        if at is not None:
            found.setdefault(str(row["event_id"]), at)
    return found


def touchpoint_latencies(
    rows: Iterable[Mapping[str, Any]], sent: Iterable[Sent]
) -> dict[str, float]:
    """event id -> seconds from sending its raw record to its row's first insert
    (`inserted`, seconds since the epoch), for the rows of paced records."""
    rows = list(rows)
    sent_at = sent_by_event(rows, sent)
    first: dict[str, float] = {}
    for row in rows:
        event_id = str(row["event_id"])
        if event_id in sent_at:
            seconds = float(row["inserted"]) - sent_at[event_id]
            first[event_id] = min(seconds, first.get(event_id, seconds))
    return first


@dataclass
class SessionLatencies:
    """Per paced touchpoint with a session: seconds from sending it to its session's first
    row in ClickHouse."""

    seconds: dict[str, float] = field(default_factory=dict)  # event id -> seconds
    already: int = 0  # the session was queryable before the record was sent
    missing: int = 0  # no row of the session found (yet)
    no_session: int = 0  # bots: stored without a session

    def note(self) -> str:
        parts = [
            f"{count:,} {what}"
            for count, what in (
                (self.already, "joined a session already queryable when sent"),
                (self.missing, "had no session row yet"),
                (self.no_session, "had no session (bots)"),
            )
            if count
        ]
        return "; ".join(parts)


def session_ids(rows: Iterable[Mapping[str, Any]], sent: Iterable[Sent]) -> set[str]:
    """Sessions of the paced records among touchpoint rows (which carry session_id)."""
    rows = list(rows)
    sent_at = sent_by_event(rows, sent)
    return {
        str(row["session_id"])
        for row in rows
        if row.get("session_id") and str(row["event_id"]) in sent_at
    }


def session_latencies(
    rows: Iterable[Mapping[str, Any]],
    first_session_row: Mapping[str, float],
    sent: Iterable[Sent],
) -> SessionLatencies:
    """For the touchpoint rows of paced records: seconds from sending each one to the
    first insert of a row of its session (`first_session_row`: session id -> min
    `_inserted_at`, seconds since the epoch)."""
    rows = list(rows)
    sent_at = sent_by_event(rows, sent)
    result = SessionLatencies()
    sessions: dict[str, str | None] = {}
    for row in rows:
        event_id = str(row["event_id"])
        if event_id in sent_at:
            session = row.get("session_id")
            sessions.setdefault(event_id, str(session) if session else None)
    for event_id, session in sessions.items():
        if session is None:
            result.no_session += 1
            continue
        inserted = first_session_row.get(session)
        if inserted is None:
            result.missing += 1
        elif inserted < sent_at[event_id]:
            result.already += 1
        else:
            result.seconds[event_id] = inserted - sent_at[event_id]
    return result


def keep_first(found: dict[str, float], rows: Iterable[Mapping[str, Any]]) -> None:
    """Fold rows of (`key`, `first`: seconds since the epoch) into `found`, keeping the
    earliest time per key."""
    for row in rows:
        key, first = str(row["key"]), float(row["first"])
        if first < found.get(key, math.inf):
            found[key] = first


class FirstRows:
    """Polls a table through `query` in a thread: key -> earliest `_inserted_at` seen
    (seconds since the epoch), for rows inserted since `since`."""

    def __init__(
        self, query: Callable[[str], list[dict[str, Any]]], table: str, key: str, *,
        since: float, every: float = 0.5,
    ) -> None:  # fmt: skip
        self.query = query
        self.sql = (
            f"SELECT {key} AS key, toUnixTimestamp64Milli(min(_inserted_at)) / 1000 AS first "
            f"FROM {table} WHERE _inserted_at >= fromUnixTimestamp64Milli({int(since * 1000)}) "
            f"GROUP BY {key}"
        )
        self.every = every
        self.found: dict[str, float] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-first-rows", daemon=True)

    def start(self) -> FirstRows:
        self._thread.start()
        return self

    def poll(self) -> None:
        try:
            rows = self.query(self.sql)
        except OSError:  # the worker busy or going away: the next poll tries again
            self.errors += 1
            return
        keep_first(self.found, rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def stop(self) -> dict[str, float]:
        """Stop polling after one last poll; key -> earliest insert seen."""
        self._stop.set()
        self._thread.join(timeout=120)
        self.poll()
        return self.found


class LeadIn:
    """Where live traffic's timed records start, decided while it is sent: at the first
    record sent once the pipeline keeps up, i.e. has stored as many rows as records were
    sent `within` seconds before (`stored()` >= `already` + that count; records sent since
    are in flight), though not before index `least` nor after `most`; then `timed` records
    and `trailer` more, and the traffic stops. `go_on` is `produce_live`'s."""

    def __init__(
        self, stored: Callable[[], int], already: int, *, least: int, most: int, timed: int,
        trailer: int, within: float = 2.0, every: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.stored = stored
        self.already = already
        self.least, self.most, self.count, self.trailer = least, most, timed, trailer
        self.within = within
        self.every = every
        self.clock = clock
        self.start: int | None = None
        self.caught_up = False
        self._counted: list[float] = []  # [k]: when k records had been sent
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-lead-in", daemon=True)

    def go_on(self, index: int) -> bool:
        """Whether to send record `index` (the ones before it are sent)."""
        while len(self._counted) <= index:
            self._counted.append(self.clock())
        if self.start is None and (self._ready.is_set() or index >= self.most):
            self.start, self.caught_up = index, self._ready.is_set()
            self._stop.set()
        return self.start is None or index < self.start + self.count + self.trailer

    def timed(self) -> slice:
        start = self.most if self.start is None else self.start
        return slice(start, start + self.count)

    def poll(self) -> bool:
        """Whether the pipeline keeps up (once `least` records were sent); from then on the
        next record sent starts the timed ones."""
        sent = bisect.bisect_right(self._counted, self.clock() - self.within) - 1
        if not self._ready.is_set() and sent >= self.least:
            try:
                if self.stored() >= self.already + sent:
                    self._ready.set()
            except OSError:  # the worker busy: the next poll tries again
                pass
        return self._ready.is_set()

    def _run(self) -> None:
        while not self._stop.is_set() and not self.poll():
            self._stop.wait(self.every)

    def __enter__(self) -> LeadIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def percentiles(values: list[float], points: Iterable[float] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles, e.g. {"p50": ..., "p95": ..., "p99": ...}."""
    ordered = sorted(values)
    if not ordered:
        return {}
    result = {}
    for point in points:
        rank = min(len(ordered), max(1, math.ceil(point / 100 * len(ordered))))
        result[f"p{point:g}"] = ordered[rank - 1]
    return result
