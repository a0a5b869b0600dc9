"""Journey agents: the engine per partition, its clock, and its side of identity merges.

    touchpoints.by-customer (Touchpoint, keyed by customer) + journeys.ticks
    + journeys.moves (EngineMerge keyed by the loser | Absorb keyed by the winner)
        -> JourneyPartition (state in the `customers` table, changelogged)
        -> journeys.touchpoints / journeys.sessions / journeys.transitions / journeys.customers
        -> touchpoints.by-customer (a merged customer's touchpoints, on to the winner)
        -> journeys.moves (a merged customer's state, to the winner)
        -> identity.messages (Repoint: the identifier that still named the merged customer)

Touchpoints reach by-customer from identity resolution (pipeline.journeys.resolver_agent).

Ticks are the engine's clock: each worker sends one per second to every partition of
journeys.ticks it owns; they arrive in the engine's own stream, so the state changes they
cause go to the right changelog partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import faust
from pydantic import BaseModel

from pipeline.journeys.engine import EngineConfig, Outputs
from pipeline.journeys.identity import anchor_key
from pipeline.journeys.merging import ENGINE_MESSAGE, Absorb
from pipeline.journeys.partition import JourneyPartition, PartitionClock
from pipeline.journeys.resolution import Cause, EngineMerge, Repoint
from pipeline.journeys.state import CustomerState
from pipeline.metrics.windows import WindowCounter
from schemas.touchpoint import Touchpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JourneyTopics:
    """The topics the journey agents read and write."""

    by_customer: faust.TopicT
    moves: faust.TopicT
    identity_messages: faust.TopicT
    ticks: faust.TopicT
    touchpoints: faust.TopicT
    sessions: faust.TopicT
    transitions: faust.TopicT
    customers: faust.TopicT
    window_reports: faust.TopicT


class TableStore:
    """A StateStore over a Faust table of JSON-encoded CustomerState values."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.table.get(customer_id)
        return None if raw is None else CustomerState.model_validate_json(raw)

    def put(self, state: CustomerState) -> None:
        self.table[state.customer_id] = state.model_dump_json().encode()

    def delete(self, customer_id: str) -> None:
        self.table.pop(customer_id, None)

    def states(self, partition: int) -> Iterable[CustomerState]:
        for raw in list(self.table.values()):
            state = CustomerState.model_validate_json(raw)
            if state.partition == partition and state.merged_into is None:
                yield state


class TableCounts:
    """A CountStore over a Faust table, mirrored in memory for one partition's keys."""

    def __init__(self, table: Any, partition: int) -> None:
        self.table = table
        mine = (f"c|{partition}|", f"v|{partition}|", f"e|{partition}|", f"f|{partition}")
        self.mirror = {key: int(raw) for key, raw in list(table.items()) if key.startswith(mine)}

    def get(self, key: str) -> int:
        return self.mirror.get(key, 0)

    def add(self, key: str, amount: int) -> None:
        value = self.mirror.get(key, 0) + amount
        self.mirror[key] = value
        self.table[key] = str(value).encode()

    def delete(self, key: str) -> None:
        self.mirror.pop(key, None)
        self.table.pop(key, None)

    def keys(self, prefix: str) -> Iterable[str]:
        return [key for key in self.mirror if key.startswith(prefix)]


async def emit(out: Outputs, topics: JourneyTopics, customer_id: str | None = None) -> None:
    """Send one step's outputs to their topics, each keyed as its consumers need.

    `customer_id` is the customer the step's touchpoint came for: when it had merged, the
    touchpoint goes on to the winner and its anchor is told to point there directly."""
    repoints: list[tuple[str, BaseModel]] = []
    for winner, touchpoint in out.forwards:
        anchor = anchor_key(touchpoint.identities)
        if anchor is not None and customer_id is not None:
            cause = Cause(event_id=touchpoint.event_id, event_time=touchpoint.event_time)
            repoints.append((anchor, Repoint(key=anchor, old=customer_id, new=winner, cause=cause)))
    batches: list[tuple[faust.TopicT, list[tuple[str, BaseModel]]]] = [
        (topics.touchpoints, [(t.customer_id, t) for t in out.touchpoints]),
        (topics.sessions, [(s.session_id, s) for s in out.sessions]),
        (topics.transitions, [(t.customer_id, t) for t in out.transitions]),
        (topics.customers, [(j.customer_id, j) for j in out.journeys]),
        (topics.window_reports, [(str(r.partition), r) for r in out.reports]),
        (topics.by_customer, [(winner.id, t) for winner, t in out.forwards]),
        (topics.moves, [(w.id, Absorb(winner=w, state=state)) for w, state in out.moves]),
        (topics.identity_messages, repoints),
    ]
    for topic, records in batches:
        for key, record in records:
            await topic.send(key=key.encode(), value=record.model_dump_json().encode())


def register_journey_agents(
    app: faust.App,
    topics: JourneyTopics,
    config: EngineConfig,
    *,
    partitions: int,
    idle_after: float,
    idle_rate: float,
    window_sizes: Sequence[timedelta],
    tick_seconds: float = 1.0,
) -> None:
    """Add the engine, its table and its clock to `app`."""
    table = app.Table(
        "customers",
        partitions=partitions,
        key_type=str,
        value_type=bytes,  # CustomerState as JSON (the app's serializers are raw)
    )
    store = TableStore(table)
    counts = app.Table("window_counts", partitions=partitions, key_type=str, value_type=bytes)
    engines: dict[int, JourneyPartition] = {}

    def engine_for(partition: int) -> JourneyPartition:
        engine = engines.get(partition)
        if engine is None:
            clock = PartitionClock(config.allowed_lateness, idle_after, idle_rate)
            # A window is final once every session that ended in it has closed.
            counter = WindowCounter(
                partition, TableCounts(counts, partition), window_sizes, config.inactivity_gap
            )
            engine = JourneyPartition(partition, store, config, clock, counter=counter)
            engine.rebuild(store.states(partition), time.monotonic())
            engines[partition] = engine
        return engine

    ticks, moves = topics.ticks.get_topic_name(), topics.moves.get_topic_name()

    async def journeys(stream: Any) -> None:
        # (customer, Touchpoint) | tick | merge | absorb -> JourneyPartition -> outputs
        async for event in stream.events():
            message = event.message
            engine = engine_for(message.partition)
            customer_id = None
            if message.topic == ticks:
                out = engine.on_tick(time.monotonic())
            elif message.topic == moves:
                move = ENGINE_MESSAGE.validate_json(event.value)
                if isinstance(move, EngineMerge):
                    out = engine.on_merge(move.loser, move.winner)
                else:
                    out = engine.on_absorb(move.winner, move.state, time.monotonic())
            else:
                touchpoint = Touchpoint.model_validate_json(event.value)
                customer_id = event.key.decode()
                out = engine.on_touchpoint(customer_id, touchpoint, time.monotonic())
            if out:
                await emit(out, topics, customer_id)

    async def forget(*args: Any, **kwargs: Any) -> None:
        # (sender, revoked partitions): they go elsewhere; if they come back, they are
        # rebuilt from the table.
        revoked = args[1] if len(args) > 1 else kwargs.get("revoked", set())
        for tp in revoked:
            engines.pop(tp.partition, None)

    app.on_partitions_revoked.connect(forget)

    async def tick() -> None:
        owned = {
            tp.partition
            for tp in app.consumer.assignment()
            if tp.topic == topics.ticks.get_topic_name()
        }
        for partition in sorted(owned):
            await topics.ticks.send(key=b"tick", value=b"", partition=partition)

    app.timer(interval=tick_seconds)(tick)

    combined = app.topic(
        topics.by_customer.get_topic_name(), ticks, moves, key_type=bytes, value_type=bytes
    )
    app.agent(combined, name="journeys.engine")(journeys)
