"""Conversion counts per event-time window, counted per partition and merged downstream.

What is counted, per tumbling window and per dimension (all, channel, campaign, segment,
and for sessions the stage model's own dimensions, e.g. device):

    entered      customers entering a stage (first time ever), at the transition's time,
                 by the channel/campaign/segment of the touchpoint that moved them
    passed       sessions moving on from a stage (or buying there), at the session's end
    dropped_off  sessions ending at a stage without buying, at the session's end
                 (sessions by their entry channel, entry campaign and segment)

and the same two for each step of the stage model's funnel (a step's name in place of
the stage): passed when the session reached the next step, dropped_off when it reached
no further (the funnel's last step counts only as passed: reaching it is the goal).

so a stage's drop-off rate in a window is dropped_off / (dropped_off + passed).

Each engine partition keeps its own partial counts (no hot key: a popular stage is
counted on every partition). A window is final on a partition once its watermark is past
the window's end plus the inactivity gap (every session that ended in it has closed by
then); the partition then emits its partial counts, empty or not, so the merger knows it
has heard from everyone. A late contribution to a window already emitted re-emits it as
a new version.

    Outputs (transitions, settled sessions) -> contributions -> partial counts per window
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from pydantic import BaseModel

from schemas.outputs import SessionRecord, StageTransition

NONE = "(none)"
METRICS = ("entered", "passed", "dropped_off")

#: (dimension, value, stage, metric)
CountKey = tuple[str, str, str, str]


class PartialCounts(BaseModel):
    """One partition's counts for one window."""

    partition: int
    size_seconds: int
    window_start: datetime
    version: int
    counts: list[tuple[str, str, str, str, int]]  # (dimension, value, stage, metric, count)


class WindowReport(BaseModel):
    """What a partition tells the merger each tick (topic journeys.window-reports): the
    windows it made final (or changed) since, and how far it has got per window size."""

    partition: int
    has_data: bool  # False: nothing has reached this partition yet, nor is expected
    emitted_until: dict[int, datetime]  # window size (s) -> end of its last final window
    partials: list[PartialCounts]


class Contribution(NamedTuple):
    """One count: +1 for (dimension, value, stage, metric) at event time `at`."""

    at: datetime
    key: CountKey


#: What every count breaks down by; a stage model may add its own (touchpoint properties).
BUILT_IN_DIMENSIONS = ("all", "channel", "campaign", "segment")


def _dimensions(channel: str, campaign: str | None, segment: str | None) -> list[tuple[str, str]]:
    values = ("all", channel, campaign or NONE, segment or NONE)
    return list(zip(BUILT_IN_DIMENSIONS, values, strict=True))


def contributions(
    transitions: Iterable[StageTransition], settled: Iterable[SessionRecord]
) -> Iterator[Contribution]:
    """What a step's outputs add to the counts."""
    for transition in transitions:
        if transition.kind == "dropped_off":
            continue  # counted from the session, with the session's dimensions
        for dimension, value in _dimensions(
            transition.channel, transition.campaign, transition.segment
        ):
            yield Contribution(
                transition.event_time, (dimension, value, transition.to_stage, "entered")
            )
    for session in settled:
        dims = _dimensions(session.entry_channel, session.entry_campaign, session.segment)
        dims.extend((name, value or NONE) for name, value in session.dimensions.items())
        outcomes = [(stage, "passed") for stage in session.passed]
        if session.dropped_off_at is not None:
            outcomes.append((session.dropped_off_at, "dropped_off"))
        for step in session.funnel_reached:
            outcomes.append(
                (step, "dropped_off" if step == session.funnel_dropped_at else "passed")
            )
        for stage, metric in outcomes:
            for dimension, value in dims:
                yield Contribution(session.ended_at, (dimension, value, stage, metric))


def window_start(at: datetime, size: timedelta) -> datetime:
    """The start of the tumbling window of `size` that holds `at` (aligned to the epoch)."""
    seconds = int(size.total_seconds())
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


class CountStore(Protocol):
    """Where a partition's counts persist (a Faust table in the worker)."""

    def get(self, key: str) -> int: ...
    def add(self, key: str, amount: int) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str) -> Iterable[str]: ...


class DictCounts:
    """A CountStore in a dict (tests, replays)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def get(self, key: str) -> int:
        return self.counts.get(key, 0)

    def add(self, key: str, amount: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def delete(self, key: str) -> None:
        self.counts.pop(key, None)

    def keys(self, prefix: str) -> Iterable[str]:
        return [key for key in self.counts if key.startswith(prefix)]


class WindowCounter:
    """A partition's partial counts for every configured window size.

    Keys in the store (all under this partition's prefix, so a partition's counts move
    with it on a rebalance):
        c|<p>|<size>|<start>|<dimension>|<value>|<stage>|<metric>   the count
        v|<p>|<size>|<start>                                        versions emitted
        e|<p>|<size>                                                 last window emitted
    """

    def __init__(
        self,
        partition: int,
        store: CountStore,
        sizes: Iterable[timedelta],
        settle: timedelta,
        keep: timedelta = timedelta(days=2),
    ) -> None:
        self.partition = partition
        self.store = store
        self.sizes = [int(size.total_seconds()) for size in sizes]
        self.settle = settle  # how long after a window's end its sessions are all closed
        self.keep = keep  # how long emitted windows stay open to late contributions
        self._dirty: set[tuple[int, int]] = set()  # emitted windows changed since

    def snapshot(self) -> dict[str, object]:
        """Progress a restart needs (JSON-ready): first count, windows emitted, re-versions."""
        p = self.partition
        return {
            "first": self.store.get(f"f|{p}"),
            "emitted": {str(size): self._emitted_end(size) for size in self.sizes},
            "changed": sorted(self._dirty),
        }

    def restore(self, snapshot: object) -> None:
        """Take the progress `snapshot` recorded (into a store that has none yet)."""
        if not isinstance(snapshot, dict):
            return
        p = self.partition
        self.store.add(f"f|{p}", int(snapshot.get("first", 0)) - self.store.get(f"f|{p}"))
        for size, end in dict(snapshot.get("emitted") or {}).items():
            key = f"e|{p}|{int(size)}"
            self.store.add(key, int(end) - self.store.get(key))
        self._dirty = {(int(size), int(start)) for size, start in snapshot.get("changed") or []}

    def add(self, items: Iterable[Contribution]) -> None:
        p, store, dirty = self.partition, self.store, self._dirty
        first_key = f"f|{p}"
        first = store.get(first_key)
        emitted = [(size, self._emitted_end(size)) for size in self.sizes]
        for at, key in items:
            epoch = int(at.timestamp())
            if first == 0 or epoch < first:
                store.add(first_key, epoch - first)
                first = epoch
            counted = "|".join(key)
            for size, emitted_end in emitted:
                start = epoch - epoch % size
                store.add(f"c|{p}|{size}|{start}|{counted}", 1)
                if start + size <= emitted_end:
                    dirty.add((size, start))

    def close(self, watermark: datetime) -> list[PartialCounts]:
        """Partial counts of every window the watermark has made final, and re-versions."""
        partials: list[PartialCounts] = []
        mark = int(watermark.timestamp())
        first = self.store.get(f"f|{self.partition}")
        for size in self.sizes:
            last = self._emitted_end(size)
            if last == 0:
                if first == 0:
                    # Nothing counted yet: the windows the watermark has settled are
                    # final (and empty) here; a count for one of them comes as a late one.
                    settled = mark - int(self.settle.total_seconds())
                    self.store.add(f"e|{self.partition}|{size}", max(settled - settled % size, 0))
                    continue
                last = first - first % size
            start = last
            while start + size + self.settle.total_seconds() <= mark:
                partials.append(self._emit(size, start))
                start += size
            if start != self._emitted_end(size):
                self.store.add(f"e|{self.partition}|{size}", start - self._emitted_end(size))
                self._forget_before(size, mark - int(self.keep.total_seconds()) - size)
        for size, start in sorted(self._dirty):
            partials.append(self._emit(size, start))
        self._dirty.clear()
        return partials

    def emitted_until(self) -> dict[int, datetime]:
        """Per window size, the end of the last window emitted as final."""
        return {
            size: datetime.fromtimestamp(self._emitted_end(size), tz=UTC)
            for size in self.sizes
            if self._emitted_end(size)
        }

    def _emitted_end(self, size: int) -> int:
        return self.store.get(f"e|{self.partition}|{size}")

    def _emit(self, size: int, start: int) -> PartialCounts:
        p = self.partition
        prefix = f"c|{p}|{size}|{start}|"
        counts = []
        for key in sorted(self.store.keys(prefix)):
            dimension, rest = key[len(prefix) :].split("|", 1)
            value, stage, metric = rest.rsplit("|", 2)  # a value may hold "|"
            counts.append((dimension, value, stage, metric, self.store.get(key)))
        self.store.add(f"v|{p}|{size}|{start}", 1)
        return PartialCounts(
            partition=p,
            size_seconds=size,
            window_start=datetime.fromtimestamp(start, tz=UTC),
            version=self.store.get(f"v|{p}|{size}|{start}"),
            counts=counts,
        )

    def _forget_before(self, size: int, epoch: int) -> None:
        for kind in ("c", "v"):
            for key in list(self.store.keys(f"{kind}|{self.partition}|{size}|")):
                start = int(key.split("|")[3])
                if start + size < epoch:
                    self.store.delete(key)
