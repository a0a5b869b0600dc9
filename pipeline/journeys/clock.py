"""A partition's event-time clock: its watermark, aligned across every source that feeds
it and across the partitions that send it work.

Touchpoints reach a partition from many sources (each raw topic partition), each in its
own order and at its own pace: a backlog may race through one channel while another lags.
The watermark W is therefore the slowest source's latest event time minus the allowed
lateness, and a backlog judges a touchpoint late exactly when live traffic would:

- A source known to have records not read yet (`expect`) holds W until its first record.
- Work forwarded from other partitions (a touchpoint on its way to its customer) is one
  flush or more behind: every partition tells every other one, each flush, how far its
  inputs have got (`frontier`), level k counting what is still k hops away from reaching
  it. W also waits for every other partition's last level, so a forwarded touchpoint
  never finds W past it on arrival when it was on time where it was read.
- A source (or a partition) silent for `idle_after` wall seconds stops holding W back.
  When every source is silent, event time moves on with the wall clock (times
  `idle_rate`), so an idle partition closes its sessions instead of holding them open
  forever, while a busy backlog is never cut short by the wall clock. It moves on from
  the later of this partition's own sources and the last W its sources and peers set
  (a partition whose own records are older than another's would otherwise stand still
  until its idle clock had caught up with what it already knew).

W never moves backwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

#: Hops between partitions the watermark waits for: raw record -> its anchor's partition
#: -> its customer's, and identity merges, which pass a journey on further.
LEVELS = 4

#: A frontier that holds everything back (a partition still waiting for a source).
HOLD = datetime.min.replace(tzinfo=UTC)

#: The clock source that stands for what the stored states had seen before a restart.
RESTORED = "(restored)"

Frontier = tuple[datetime | None, ...]  # by level; None: nothing to wait for


@dataclass
class SourceClock:
    """How far one source (a raw topic partition) has got, and when it last spoke."""

    max_event_time: datetime
    last_wall: float


@dataclass
class PeerClock:
    """Another partition's last frontier, and when it came."""

    frontier: Frontier
    last_wall: float


@dataclass
class PartitionClock:
    """A partition's event-time clock (see the module's docstring)."""

    lateness: timedelta
    idle_after: float = 60.0
    idle_rate: float = 1.0
    sources: dict[str, SourceClock] = field(default_factory=dict)
    peers: dict[int, PeerClock] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)  # unread source -> since
    unheard: dict[int, float] = field(default_factory=dict)  # silent partition -> since
    _mark: datetime | None = None
    _bounded: tuple[datetime, float] | None = None  # last W set by inputs, and when

    def snapshot(self) -> dict[str, object]:
        """What a restart needs to go on with the same watermark (JSON-ready)."""
        return {
            "sources": {name: _ms(s.max_event_time) for name, s in sorted(self.sources.items())},
            "mark": None if self._mark is None else _ms(self._mark),
        }

    @classmethod
    def restore(
        cls, snapshot: object, lateness: timedelta, idle_after: float, idle_rate: float
    ) -> PartitionClock:
        """A clock as `snapshot` left it; its sources count as just heard from (the other
        partitions' frontiers come again within a flush)."""
        clock = cls(lateness, idle_after, idle_rate)
        if isinstance(snapshot, dict):
            wall = time.monotonic()
            for name, ms in dict(snapshot.get("sources") or {}).items():
                clock.sources[str(name)] = SourceClock(_from_ms(int(ms)), wall)
            mark = snapshot.get("mark")
            clock._mark = None if mark is None else _from_ms(int(mark))
        return clock

    @property
    def last_watermark(self) -> datetime | None:
        """The watermark as `watermark()` last set it (reading it changes nothing)."""
        return self._mark

    @property
    def max_event_time(self) -> datetime | None:
        return max((s.max_event_time for s in self.sources.values()), default=None)

    def expect(self, sources: set[str], wall: float) -> None:
        """Of the raw sources, exactly `sources` have records not read yet: each holds W
        until it has spoken."""
        self.waiting = {
            name: self.waiting.get(name, wall) for name in sources - self.sources.keys()
        }

    def expect_peers(self, partitions: int, own: int, wall: float) -> None:
        """Hold W until every other partition has said how far it has got."""
        for partition in range(partitions):
            if partition != own and partition not in self.peers:
                self.unheard.setdefault(partition, wall)

    def observe(self, source: str, event_time: datetime, wall: float) -> None:
        clock = self.sources.get(source)
        if clock is None:
            self.sources[source] = SourceClock(event_time, wall)
            self.waiting.pop(source, None)
        else:
            clock.max_event_time = max(clock.max_event_time, event_time)
            clock.last_wall = wall

    def quiet(self, wall: float) -> bool:
        """Whether nothing has reached this partition yet and nothing is expected to."""
        return not self.sources and not any(
            wall - since <= self.idle_after
            for since in (*self.waiting.values(), *self.unheard.values())
        )

    def hear(self, partition: int, frontier: Frontier, wall: float) -> None:
        """Partition `partition`'s frontier (sent after the work it forwarded here)."""
        self.peers[partition] = PeerClock(frontier, wall)
        self.unheard.pop(partition, None)

    def frontier(self, wall: float) -> Frontier:
        """How far this partition's inputs have got, by level: level k also counts what
        other partitions' inputs still send here through k hops."""
        marks: list[datetime | None] = [HOLD if self._holding(wall) else self._slowest(wall)]
        peers = self._peer_frontiers(wall)
        for level in range(1, LEVELS):
            marks.append(_earliest(marks[-1], *(peer[level - 1] for peer in peers)))
        return tuple(marks)

    def watermark(self, wall: float) -> datetime | None:
        if self._holding(wall):
            return self._mark
        peers = self._peer_frontiers(wall)
        bound = _earliest(self._slowest(wall), *(peer[-1] for peer in peers))
        if bound == HOLD:
            return self._mark
        if bound is not None:
            mark = bound - self.lateness
            self._bounded = (mark, wall)
        elif self.sources or self._bounded:  # every source and partition is silent
            mark = max(self._idle_marks(wall))
        else:
            return self._mark
        if self._mark is not None and mark < self._mark:
            return self._mark
        self._mark = mark
        return mark

    def _idle_marks(self, wall: float) -> list[datetime]:
        """W by the idle clock, `idle_after` after the last input: from this partition's
        latest source, and from the last W that its sources and peers set."""
        rate = self.idle_rate
        marks = []
        if self.sources:
            latest = max(s.max_event_time for s in self.sources.values())
            quiet = wall - max(s.last_wall for s in self.sources.values()) - self.idle_after
            marks.append(latest - self.lateness + timedelta(seconds=quiet * rate))
        if self._bounded is not None:
            bounded, since = self._bounded
            marks.append(bounded + timedelta(seconds=(wall - since - self.idle_after) * rate))
        return marks

    def _holding(self, wall: float) -> bool:
        """Whether a raw source with records not read yet has still to speak."""
        waiting = self.waiting
        return bool(waiting) and any(wall - since <= self.idle_after for since in waiting.values())

    def _slowest(self, wall: float) -> datetime | None:
        """The latest event time of the slowest active source (None: all are silent)."""
        # Lists, not generators: this runs for every touchpoint (docs/performance.md).
        idle_after = self.idle_after
        active = [
            s.max_event_time for s in self.sources.values() if wall - s.last_wall <= idle_after
        ]
        return min(active) if active else None

    def _peer_frontiers(self, wall: float) -> list[Frontier]:
        """The frontiers of the partitions heard from lately; one that has not spoken yet
        holds everything back."""
        idle_after = self.idle_after
        heard = [p.frontier for p in self.peers.values() if wall - p.last_wall <= idle_after]
        if self.unheard:
            unheard = sum(wall - since <= idle_after for since in self.unheard.values())
            heard += [(HOLD,) * LEVELS] * unheard
        return heard


def _earliest(*marks: datetime | None) -> datetime | None:
    known = [at for at in marks if at is not None]
    return min(known) if known else None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
