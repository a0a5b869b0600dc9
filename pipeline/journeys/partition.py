"""One partition of the journey engine: its watermark, its customers, and who is due.

The agent owns one `JourneyPartition` per assigned partition; states live in a store
(the Faust table in the worker, a dict in tests and replays). Nothing here touches Kafka.

    (customer id, Touchpoint, wall time) -> Outputs        on every touchpoint
    (wall time)                          -> Outputs        on every tick (idle partitions)
    (loser, winner, wall time)           -> Outputs.moves  on an identity merge (loser's side)
    (winner, loser state, wall time)     -> Outputs        absorbing it (winner's side)

A merged customer stays in the store as a marker (`merged_into`): touchpoints that still
arrive under its id go on to the winner (`Outputs.forwards`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from pipeline.journeys.clock import HOLD, RESTORED, PartitionClock
from pipeline.journeys.engine import EngineConfig, Outputs, advance, due, evictable, receive
from pipeline.journeys.identity import CustomerRef
from pipeline.journeys.merging import absorb
from pipeline.journeys.state import CustomerState
from pipeline.metrics.windows import WindowCounter, WindowReport, contributions
from schemas.touchpoint import Touchpoint


class StateStore(Protocol):
    """Where customer states live."""

    def get(self, customer_id: str) -> CustomerState | None: ...
    def put(self, state: CustomerState) -> None: ...
    def delete(self, customer_id: str) -> None: ...


class DictStore:
    """A StateStore in a dict (tests, replays, benchmarks)."""

    def __init__(self) -> None:
        self.states: dict[str, CustomerState] = {}

    def get(self, customer_id: str) -> CustomerState | None:
        return self.states.get(customer_id)

    def put(self, state: CustomerState) -> None:
        self.states[state.customer_id] = state

    def delete(self, customer_id: str) -> None:
        self.states.pop(customer_id, None)


class JourneyPartition:
    """The engine for one partition: routes touchpoints and ticks to customer states."""

    def __init__(
        self,
        partition: int,
        store: StateStore,
        config: EngineConfig,
        clock: PartitionClock,
        *,
        counter: WindowCounter | None = None,
        budget: int = 1000,
    ) -> None:
        self.partition = partition
        self.store = store
        self.config = config
        self.clock = clock
        self.counter = counter
        self.budget = budget  # most due customers handled per call; the rest next time
        self._due: list[tuple[datetime, str]] = []  # a heap; entries may be stale
        self._scheduled: dict[str, datetime] = {}  # the live entry of each customer
        self._open: set[str] = set()  # customers with a session open

    def restore(self, states: Iterable[CustomerState]) -> None:
        """Rebuild the due index from stored states (a partition newly assigned)."""
        self._due.clear()
        self._scheduled.clear()
        self._open.clear()
        for state in states:
            self._schedule(state)

    def on_touchpoint(self, customer_id: str, touchpoint: Touchpoint, wall: float) -> Outputs:
        merged = self.store.get(customer_id)
        if merged is not None and merged.merged_into is not None:
            out = Outputs()
            out.forwards.append((merged.merged_into, touchpoint))
            return out
        raw = touchpoint.raw
        self.clock.observe(f"{raw.topic}/{raw.partition}", touchpoint.event_time, wall)
        watermark = self.clock.watermark(wall) or HOLD  # HOLD: nothing is late or due yet
        state = self.store.get(customer_id) or CustomerState(
            customer_id=customer_id, partition=self.partition
        )
        out = receive(state, touchpoint, watermark, self.config)
        self.store.put(state)
        self._schedule(state)
        self._run_due(watermark, out)
        self._count(out)
        return out

    def on_merge(self, loser: CustomerRef, winner: CustomerRef) -> Outputs:
        """`loser` is `winner` now: leave a marker, send the loser's state to the winner.

        Redelivered, it sends the same state again (the winner ignores a repeat)."""
        out = Outputs()
        state = self.store.get(loser.id)
        if state is not None and state.merged_into is not None:
            if state.moved is not None:
                out.moves.append((state.merged_into, state.moved))
            return out
        marker = CustomerState(
            customer_id=loser.id, partition=self.partition, merged_into=winner, moved=state
        )
        self.store.put(marker)
        self._scheduled.pop(loser.id, None)
        self._open.discard(loser.id)
        if state is not None:
            out.moves.append((winner, state))
        return out

    def forget(self, customer_id: str) -> None:
        """Drop a customer's state and everything scheduled for it."""
        self.store.delete(customer_id)
        self._scheduled.pop(customer_id, None)
        self._open.discard(customer_id)

    def on_absorb(self, winner: CustomerRef, loser: CustomerState, wall: float) -> Outputs:
        """Fold a merged customer's state into `winner`'s (or pass it on if `winner` has
        itself merged since)."""
        out = Outputs()
        state = self.store.get(winner.id)
        if state is not None and state.merged_into is not None:
            out.moves.append((state.merged_into, loser))
            return out
        state = state or CustomerState(customer_id=winner.id, partition=self.partition)
        out.extend(absorb(state, loser, self.config))
        latest = state.latest_event_time()
        if self.clock.watermark(wall) is None and latest is not None:
            self.clock.observe(RESTORED, latest, wall)
        watermark = self.clock.watermark(wall)
        if watermark is not None:
            advance(state, watermark, self.config, out)
        self.store.put(state)
        self._schedule(state)
        if watermark is not None:
            self._run_due(watermark, out)
        self._count(out)
        return out

    def on_tick(self, wall: float) -> Outputs:
        """Advance by the clock alone; report window counts (every tick, as a heartbeat)."""
        watermark = self.clock.watermark(wall)
        out = Outputs() if watermark is None else self._run_due(watermark, Outputs())
        self._count(out)
        self._report(watermark, out, has_data=not self.clock.quiet(wall))
        return out

    def _count(self, out: Outputs) -> None:
        if self.counter is not None:
            self.counter.add(contributions(out.transitions, out.settled))

    def _report(self, watermark: datetime | None, out: Outputs, has_data: bool = True) -> None:
        if self.counter is None:
            return
        partials = [] if watermark is None else self.counter.close(watermark)
        out.reports.append(
            WindowReport(
                partition=self.partition,
                has_data=has_data,
                emitted_until=self.counter.emitted_until(),
                partials=partials,
            )
        )

    def flush(self) -> Outputs:
        """Release everything and close every session, as at the end of a replay.

        Customers stay in the store (eviction still waits for the retention).
        """
        out = Outputs()
        if self.clock.max_event_time is None:
            return out
        config = self.config
        horizon = config.allowed_lateness + config.max_length + config.inactivity_gap
        end = self.clock.max_event_time + horizon
        while self._due and self._due[0][0] <= end:
            self._run_due(end, out)
        self._count(out)
        self._report(end + max(self._window_sizes(), default=timedelta(0)), out)
        return out

    def _window_sizes(self) -> list[timedelta]:
        sizes = self.counter.sizes if self.counter is not None else []
        return [timedelta(seconds=size) for size in sizes]

    @property
    def sessions_open(self) -> int:
        return len(self._open)

    def _schedule(self, state: CustomerState) -> None:
        customer_id, when = state.customer_id, due(state, self.config)
        if state.open is None:
            self._open.discard(customer_id)
        else:
            self._open.add(customer_id)
        if when is None:
            self._scheduled.pop(customer_id, None)
        elif self._scheduled.get(customer_id) != when:
            self._scheduled[customer_id] = when
            heapq.heappush(self._due, (when, customer_id))

    def _run_due(self, watermark: datetime, out: Outputs) -> Outputs:
        """Advance the customers the watermark has made due (into `out`, returned)."""
        handled = 0
        while self._due and self._due[0][0] <= watermark and handled < self.budget:
            when, customer_id = heapq.heappop(self._due)
            if self._scheduled.get(customer_id) != when:
                continue  # superseded by a later entry
            del self._scheduled[customer_id]
            state = self.store.get(customer_id)
            if state is None:
                continue
            handled += 1
            advance(state, watermark, self.config, out)
            if evictable(state, watermark, self.config):
                self.store.delete(customer_id)
                self._open.discard(customer_id)
            else:
                self.store.put(state)
                self._schedule(state)
        return out
