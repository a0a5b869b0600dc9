"""One partition's pipeline: normalise -> resolve identity -> journey engine -> rows.

Plain Python, no Kafka: the agent (pipeline.journeys.agent) hands each partition's
slice of a batch to its `PartitionPipeline` and writes what it returns.

    raw record (channel, RawRecord)  ─┐
    envelope from another partition  ─┼─> work items, each handled on the partition that
    tick (wall clock)                ─┘   owns its key; the others wait in the outbox
        -> rows per ClickHouse table, dead letters, window reports    (`take_flush`)
        -> one envelope per destination partition                     (`take_outbox`)
        -> changelog records of the state that changed                (`take_flush`)

Work items and the partition that owns them:

    Resolve(touchpoint)           the anchor identifier's partition
    Apply(customer, touchpoint)   the customer's partition
    Claim | Merge | Repoint       the identifier's partition (`.key`)
    EngineMerge                   the loser's partition
    Absorb                        the winner's partition
    Forget | ForgetCustomer       the identifier's, the customer's (pipeline.journeys.forgetting)
    ForgetDeadLetters             its first position's

Each step is idempotent where it lands (identity messages and absorbs are repeated
safely, a touchpoint is applied once per event id), so an input processed again after
a crash changes nothing that was already made durable.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import msgspec
from aiokafka.partitioner import murmur2

from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer, RawRecord, normalize_safely, normalizer_for
from pipeline.journeys import codec
from pipeline.journeys.clock import Frontier, PartitionClock
from pipeline.journeys.engine import EngineConfig, Outputs, is_live
from pipeline.journeys.forgetting import Forget, ForgetCustomer, ForgetDeadLetters, Forgotten
from pipeline.journeys.identity import anchor_key
from pipeline.journeys.merging import Absorb
from pipeline.journeys.partition import JourneyPartition
from pipeline.journeys.resolution import (
    Cause,
    Claim,
    EngineMerge,
    IdentityLimits,
    Merge,
    Repoint,
    Resolution,
    Resolver,
)
from pipeline.journeys.stages import StageModel
from pipeline.journeys.store import Change, PartitionState
from pipeline.metrics.windows import WindowCounter, WindowReport
from pipeline.settings import Settings
from pipeline.sink import rows
from schemas.outputs import EnrichedTouchpoint
from schemas.touchpoint import Channel, Touchpoint

log = logging.getLogger(__name__)

#: Most times a touchpoint or a journey is passed on from a merged customer to its winner.
MAX_HOPS = 16


class Resolve(msgspec.Struct, frozen=True, tag="r"):
    """A touchpoint on its way to identity resolution (keyed by its anchor)."""

    touchpoint: Touchpoint


class Apply(msgspec.Struct, frozen=True, kw_only=True, tag="a"):
    """A touchpoint for the journey engine (keyed by its customer)."""

    customer_id: str
    touchpoint: Touchpoint
    hops: int = 0  # times it was forwarded from a merged customer to its winner


class Progress(msgspec.Struct, frozen=True, tag="pr"):
    """How far the sender's inputs have got (`PartitionClock.frontier`), after the work
    it sent along in the same envelope."""

    sender: int
    frontier: Frontier


#: Every kind of work item; each names itself on the wire with its struct's tag.
Item = (
    Resolve | Apply | Claim | Merge | Repoint | EngineMerge | Absorb
    | Forget | ForgetCustomer | ForgetDeadLetters
)  # fmt: skip

_ENVELOPE = codec.decoder(list[Item | Progress])


def encode_envelope(items: list[Item | Progress]) -> bytes:
    """One internal record carrying `items` (in order) to one partition."""
    return codec.encode(items)


def decode_envelope(value: bytes) -> list[Item | Progress]:
    return _ENVELOPE.decode(value)


class Router:
    """Which partition owns a key: Kafka's default partitioner on the identifier's value
    (the key a channel system puts on its records), so most raw records already sit on
    their customer's partition."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.partition_of = lru_cache(maxsize=1 << 18)(self._partition_of)

    def _partition_of(self, key: str) -> int:
        value = key.partition(":")[2] or key
        return int(murmur2(value.encode()) & 0x7FFFFFFF) % self.partitions


@dataclass(frozen=True)
class PipelineConfig:
    """What every partition pipeline of a worker shares."""

    normalizer: Normalizer
    engine: EngineConfig
    limits: IdentityLimits
    router: Router
    window_sizes: tuple[timedelta, ...]
    idle_after: float = 60.0
    idle_rate: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, stage_model: StageModel) -> PipelineConfig:
        """The worker's configuration (also the offline bench's)."""
        sessions = settings.sessions
        return cls(
            normalizer=normalizer_for(settings),
            engine=EngineConfig(
                stage_model=stage_model,
                inactivity_gap=sessions.inactivity_gap,
                max_length=sessions.max_length,
                allowed_lateness=sessions.allowed_lateness,
                retention=sessions.customer_retention,
                provisional=sessions.provisional_rows,
                attribution=settings.attribution.config(),
            ),
            limits=IdentityLimits(settings.identity.limits()),
            router=Router(settings.kafka.partitions),
            window_sizes=tuple(settings.windows.sizes),
            idle_after=sessions.idle_after,
            idle_rate=sessions.idle_rate,
        )


@dataclass
class Flush:
    """What a partition made since its last flush: rows, dead letters, reports, state."""

    rows: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    reports: list[WindowReport] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    forgotten: list[Forgotten] = field(default_factory=list)  # whose rows to delete
    touchpoints: int = 0  # raw records normalised into touchpoints

    def row_count(self) -> int:
        return sum(len(batch) for batch in self.rows.values())


class PartitionPipeline:
    """Partition p's identity records, customers, clock and window counts, and the steps
    between them."""

    def __init__(
        self, partition: int, config: PipelineConfig, state: PartitionState,
        wall: float | None = None,
    ) -> None:  # fmt: skip
        self.partition = partition
        self.config = config
        self.state = state
        meta = state.meta()
        self.clock = PartitionClock.restore(
            meta.get("clock"), config.engine.allowed_lateness, config.idle_after, config.idle_rate
        )
        started = time.monotonic() if wall is None else wall
        self.clock.expect_peers(config.router.partitions, partition, started)
        self.counter = WindowCounter(
            partition, state.counts, config.window_sizes, config.engine.inactivity_gap
        )
        self.counter.restore(meta.get("windows"))
        self.engine = JourneyPartition(
            partition, state.customers, config.engine, self.clock, counter=self.counter
        )
        self.engine.restore(c for c in state.customers.values() if c.merged_into is None)
        self.resolver = Resolver(state.identities, config.limits)
        self.pending = Flush()
        self.outbox: dict[int, list[Item]] = {}
        self._told: dict[int, tuple[Frontier, float]] = {}  # last frontier sent, when
        self._retell = config.idle_after / 2
        self._work: deque[Item] = deque()

    # ── inputs ─────────────────────────────────────────────────────────────────────

    def on_raw(
        self, channel: Channel, record: RawRecord, received_at: datetime, wall: float
    ) -> None:
        """A raw channel record: normalise it, then route the touchpoint."""
        result = normalize_safely(self.config.normalizer, channel, record, received_at)
        if isinstance(result, DeadLetter):
            self.pending.dead_letters.append(result)
            return
        self.pending.touchpoints += 1
        self.clock.observe(f"{record.topic}/{record.partition}", result.event_time, wall)
        self._route(Resolve(touchpoint=result), wall)

    def on_envelope(self, value: bytes, wall: float) -> None:
        """Items another partition sent here."""
        for item in decode_envelope(value):
            if isinstance(item, Progress):
                self.clock.hear(item.sender, item.frontier, wall)
            else:
                self._route(item, wall)

    def expect(self, sources: set[str], wall: float) -> None:
        """Of this partition's raw sources ("topic/partition"), exactly `sources` have
        records not read yet (the watermark waits for them)."""
        self.clock.expect(sources, wall)

    def on_tick(self, wall: float) -> None:
        """Advance by the clock alone: close what it has ended; report window counts."""
        self._engine_out(self.engine.on_tick(wall), None, wall)
        self._drain(wall)

    @property
    def watermark_seconds(self) -> float | None:
        """The watermark as of the last step (Unix seconds), None before there is one."""
        mark = self.clock.last_watermark
        return None if mark is None else mark.timestamp()

    @property
    def sessions_open(self) -> int:
        return self.engine.sessions_open

    # ── outputs ────────────────────────────────────────────────────────────────────

    def take_outbox(self, wall: float) -> dict[int, bytes]:
        """An envelope for each other partition with news for it: the items for it, in
        the order they were made, then how far this partition's inputs have got (repeated
        unchanged only every half `idle_after`, so that it keeps holding there)."""
        frontier = self.clock.frontier(wall)
        progress = Progress(sender=self.partition, frontier=frontier)
        envelopes = {}
        for q in range(self.config.router.partitions):
            items = self.outbox.get(q)
            told = self._told.get(q)
            stale = told is None or told[0] != frontier or wall - told[1] >= self._retell
            if q != self.partition and (items or stale):
                envelopes[q] = encode_envelope([*(items or ()), progress])
                self._told[q] = (frontier, wall)
        self.outbox = {}
        return envelopes

    def announce(self) -> None:
        """Send the frontier to every other partition at the next flush (after a
        rebalance, their new owners wait for it)."""
        self._told.clear()

    def take_flush(self) -> Flush:
        """Everything made since the last flush, with the changelog records of the state."""
        flush, self.pending = self.pending, Flush()
        flush.rows = {
            table: rows.latest_versions(table, made) for table, made in flush.rows.items()
        }
        meta: dict[str, object] = {
            "clock": self.clock.snapshot(),
            "windows": self.counter.snapshot(),
        }
        flush.changes = self.state.drain(meta)
        return flush

    # ── routing ────────────────────────────────────────────────────────────────────

    def _route(self, item: Item, wall: float) -> None:
        owner = self._owner(item)
        if owner != self.partition:
            self.outbox.setdefault(owner, []).append(item)
            return
        self._work.append(item)
        self._drain(wall)

    def _drain(self, wall: float) -> None:
        while self._work:
            self._handle(self._work.popleft(), wall)

    def _handle(self, item: Item, wall: float) -> None:
        if isinstance(item, Resolve):
            self._resolve(item.touchpoint, wall)
        elif isinstance(item, Apply):
            out = self.engine.on_touchpoint(item.customer_id, item.touchpoint, wall)
            self._engine_out(out, item.customer_id, wall, item.hops + 1)
        elif isinstance(item, EngineMerge):
            self._engine_out(self.engine.on_merge(item.loser, item.winner), None, wall)
        elif isinstance(item, Absorb):
            out = self.engine.on_absorb(item.winner, item.state, wall)
            self._engine_out(out, None, wall, item.hops + 1)
        elif isinstance(item, Forget):
            self._forget_identifier(item.key, wall)
        elif isinstance(item, ForgetCustomer):
            self._forget_customer(item.key, wall)
        elif isinstance(item, ForgetDeadLetters):
            self.pending.forgotten.extend(Forgotten("dead_letter", p) for p in item.positions)
        else:
            self._resolution(self.resolver.on_message(item), wall)

    def _forget_identifier(self, key: str, wall: float) -> None:
        """Drop identifier `key`'s record; forget the customers it named and the
        identifiers linked to it (each stops where its record is gone already)."""
        self.pending.forgotten.append(Forgotten("identifier", key))
        record = self.state.identities.get(key)
        if record is None:
            return
        self.state.identities.delete(key)
        customers = {record.customer.id, *(ref.id for ref in record.displaced)}
        if record.root:
            customers.add(record.key)
        if record.merged_into is not None:
            customers.add(record.merged_into.id)
        for customer_id in sorted(customers):
            self._later(ForgetCustomer(key=customer_id), wall)
        for partner in sorted({k for keys in record.partners.values() for k in keys}):
            self._later(Forget(key=partner), wall)

    def _forget_customer(self, customer_id: str, wall: float) -> None:
        """Drop a customer's state; forget the customers merged into it or it into."""
        self.pending.forgotten.append(Forgotten("customer", customer_id))
        state = self.state.customers.get(customer_id)
        if state is None:
            return
        self.engine.forget(customer_id)
        related = set(state.absorbed)
        if state.merged_into is not None:
            related.add(state.merged_into.id)
        for other in sorted(related):
            self._later(ForgetCustomer(key=other), wall)

    def _resolve(self, touchpoint: Touchpoint, wall: float) -> None:
        out = self.resolver.on_touchpoint(touchpoint)
        assert out.customer_id is not None
        customer_id = out.customer_id
        if touchpoint.is_bot:  # crawlers are stored, but stay out of journeys
            self._rows(rows.TOUCHPOINTS, [_unplaced_row(touchpoint, customer_id, rows.FINAL)])
        else:
            apply = Apply(customer_id=customer_id, touchpoint=touchpoint)
            if self._owner(apply) != self.partition and is_live(touchpoint, self.config.engine):
                # Its customer lives on another partition, one flush away: a provisional
                # row now, placed in its session there.
                unplaced = _unplaced_row(touchpoint, customer_id, rows.UNPLACED)
                self._rows(rows.TOUCHPOINTS, [unplaced])
            self._later(apply, wall)
        self._resolution(out, wall)

    def _resolution(self, out: Resolution, wall: float) -> None:
        for message in out.messages:
            self._later(message, wall)
        for merge in out.engine_merges:
            self._later(merge, wall)
        self._rows(rows.IDENTITY_LINKS, [rows.link_row(link) for link in out.links])
        self._rows(rows.CUSTOMER_MERGES, [rows.merge_row(merge) for merge in out.merges])
        self._rows(rows.IDENTITY_VIOLATIONS, [rows.violation_row(v) for v in out.violations])

    def _engine_out(
        self, out: Outputs, customer_id: str | None, wall: float, hops: int = 0
    ) -> None:
        provisional = [rows.touchpoint_row(t, rows.PROVISIONAL) for t in out.provisional]
        self._rows(rows.TOUCHPOINTS, provisional)
        self._rows(rows.TOUCHPOINTS, [rows.touchpoint_row(t) for t in out.touchpoints])
        self._rows(rows.SESSIONS, [rows.session_row(s) for s in out.sessions])
        self._rows(rows.TRANSITIONS, [rows.transition_row(t) for t in out.transitions])
        self._rows(rows.JOURNEYS, [rows.journey_row(j) for j in out.journeys])
        self._rows(rows.CREDITS, [rows.credit_row(c) for c in out.credits])
        for report in out.reports:
            self._rows(rows.PARTIALS, rows.partial_rows(report))
            self.pending.reports.append(report)
        if (out.forwards or out.moves) and hops > MAX_HOPS:
            # Merged customers pointing at each other in a ring would pass these on
            # forever (and, within one partition, never yield): stop and say so.
            log.error(
                "dropped %d touchpoints and %d journeys passed on %d times between merged "
                "customers (last: %s)", len(out.forwards), len(out.moves), hops,
                [winner.id for winner, _ in [*out.forwards, *out.moves]][:3],
            )  # fmt: skip
            return
        for winner, touchpoint in out.forwards:
            # A merged customer's touchpoint goes on to the winner, and its anchor is told
            # to point there directly.
            self._later(Apply(customer_id=winner.id, touchpoint=touchpoint, hops=hops), wall)
            anchor = anchor_key(touchpoint.identities)
            if anchor is not None and customer_id is not None:
                cause = Cause(event_id=touchpoint.event_id, event_time=touchpoint.event_time)
                self._later(Repoint(key=anchor, old=customer_id, new=winner, cause=cause), wall)
        for winner, state in out.moves:
            self._later(Absorb(winner=winner, state=state, hops=hops), wall)

    def _owner(self, item: Item) -> int:
        return self.config.router.partition_of(_key_of(item))

    def _later(self, item: Item, wall: float) -> None:
        """Queue `item` behind the current step (here or on its own partition)."""
        owner = self._owner(item)
        if owner != self.partition:
            self.outbox.setdefault(owner, []).append(item)
        else:
            self._work.append(item)

    def _rows(self, table: str, made: list[tuple[object, ...]]) -> None:
        if made:
            self.pending.rows.setdefault(table, []).extend(made)


def _unplaced_row(touchpoint: Touchpoint, customer_id: str, version: int) -> tuple[object, ...]:
    """A touchpoint's row outside any session: a bot's (final), or one not placed yet."""
    placed = EnrichedTouchpoint(
        touchpoint=touchpoint, customer_id=customer_id, session_id=None, stage=None, sequence=0
    )
    return rows.touchpoint_row(placed, version)


def _key_of(item: Item) -> str:
    """The key whose partition handles `item`."""
    if isinstance(item, Resolve):
        tp = item.touchpoint
        return anchor_key(tp.identities) or f"event:{tp.event_id}"
    if isinstance(item, Apply):
        return item.customer_id
    if isinstance(item, EngineMerge):
        return item.loser.id
    if isinstance(item, Absorb):
        return item.winner.id
    if isinstance(item, ForgetDeadLetters):
        return item.positions[0]
    return item.key
