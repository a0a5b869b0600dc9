"""The consumer read loop (pipeline/faust_drain.py) around seeks and rebalances: a
partition's read offset must never pass a record nobody processed that is fetched again,
or that record is skipped as read already (lost, and the commit goes past it)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Generator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.structs import TopicPartition
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode.services import WaitResults

from pipeline.faust_drain import (
    FETCH_ATTRIBUTE,
    Fetch,
    Seeks,
    _drain_messages,
    install_drain,
    seeks_of,
)

pytestmark = pytest.mark.unit

TP = ("t.touchpoints.raw.web", 0)


class FakeConsumer:
    """Just what the loop touches: batches to hand out (each noting the seek count at its
    fetch, as the installed fetch does), the records it delivered, the gaps it noted and
    its read offsets."""

    def __init__(self, batches: list[list[int]], *, count_seeks: bool = True) -> None:
        self.batches = batches
        self.count_seeks = count_seeks
        self.seeks = Seeks()
        self.delivered: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._stopped = asyncio.Event()
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self._commit_every = None
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.suspend_flow = asyncio.Event()
        self.should_stop = False
        self.consumer_stopped_errors = ()
        self.on_batch: list[Any] = []  # run after each batch is fetched, before it is read
        self.on_delivery: dict[int, Any] = {}  # run while a record's callback is pending
        self.abandoned: set[int] = set()  # records whose callback a rebalance abandons

    def seek(self, offset: int) -> None:
        """What a seek does (aiokafka's position, counted; Faust's read offset)."""
        self.seeks.note([TP])
        self._read_offset[TP] = offset

    def callback(self, message: Any) -> Handing:
        return Handing(self, message)

    async def deliver(self, message: Any) -> None:
        self.delivered.append(message.offset)
        if message.offset in self.on_delivery:
            self.on_delivery.pop(message.offset)()

    def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        async def batch() -> AsyncIterator[tuple[Any, Any]]:
            if not self.batches:
                self._stopped.set()
                return
            offsets = self.batches.pop(0)
            if self.count_seeks:
                setattr(self, FETCH_ATTRIBUTE, Fetch(self.seeks, self.seeks.count))
            if self.on_batch:
                self.on_batch.pop(0)()
            for offset in offsets:
                yield TP, SimpleNamespace(offset=offset, topic=TP[0])

        return batch()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _add_gap(self, tp: Any, start: int, end: int) -> None:
        self.gaps.append((start, end))

    async def wait_first(self, handed: Handing, *others: Any) -> WaitResults:
        for other in others:
            other.close()
        if handed.message.offset in self.abandoned:  # the flow stopped before the hand-over
            return WaitResults([], [], False)
        await handed
        return WaitResults([handed], [None], False)


class Handing:
    """A callback's hand-over of one record (awaitable, naming the record)."""

    def __init__(self, consumer: FakeConsumer, message: Any) -> None:
        self.consumer, self.message = consumer, message

    def __await__(self) -> Generator[Any, None, None]:
        return self.consumer.deliver(self.message).__await__()


def drain(consumer: FakeConsumer, fast: bool = True) -> Any:
    return _drain_messages(consumer, SimpleNamespace(_stopped=asyncio.Event()), fast)


@pytest.mark.parametrize("fast", [True, False])
async def test_a_batch_fetched_before_a_seek_back_does_not_skip_the_records_read_again(
    fast: bool,
) -> None:
    # Records up to 10 were read, then dropped at recovery's end; the partition is sought
    # back to 5 while a batch fetched before the seek (11, 12) goes through.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10
    consumer.on_batch = [lambda: consumer.seek(5)]
    await drain(consumer, fast)
    assert consumer.delivered == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert consumer.gaps == []
    assert consumer._read_offset[TP] == 13


async def test_without_counted_seeks_the_records_read_again_are_lost() -> None:
    # The failure the count prevents, as Faust 0.15.3's loop has it.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]], count_seeks=False)
    consumer._read_offset[TP] = 10
    consumer.on_batch = [lambda: consumer.seek(5)]
    await drain(consumer)
    assert consumer.gaps == [(6, 11)]  # 6..10 taken for done without being read
    assert consumer.delivered == [11, 12, 12, 13]  # 5 to 10 never delivered


async def test_a_seek_back_during_a_callback_is_not_undone_by_the_record_s_read_offset() -> None:
    # The seek runs while record 11's callback is pending; the loop must not then set
    # the read offset to 11 over the seek's 5, nor take the batch's 12 after it.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10
    consumer.on_delivery = {11: lambda: consumer.seek(5)}
    await drain(consumer)
    assert consumer.delivered == [11, 5, 6, 7, 8, 9, 10, 11, 12, 13]  # 11 twice: redelivered
    assert consumer.gaps == []


async def test_a_record_abandoned_in_a_rebalance_is_read_when_it_comes_again() -> None:
    # The flow is suspended while 11 is handed over: its callback is abandoned, and the
    # rebalance reads the partition again from its committed offset (11), without a
    # seek of this consumer's own (a new assignment starts at the committed offset).
    consumer = FakeConsumer([[11, 12], [11, 12, 13]])
    consumer._read_offset[TP] = 10
    consumer.suspend_flow.set()
    consumer.abandoned = {11, 12}
    consumer.on_batch = [lambda: None, consumer.abandoned.clear]
    await drain(consumer)
    assert consumer.delivered == [11, 12, 13]
    assert consumer.gaps == []


async def test_a_seek_to_an_offset_the_log_no_longer_has_reads_on_from_the_next() -> None:
    # Sought back to 5, which is gone (a transaction marker, or deleted): the fetch from
    # there starts at 6, and the loop takes it instead of waiting for 5.
    consumer = FakeConsumer([[11, 12], [6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10
    consumer.on_batch = [lambda: consumer.seek(5)]
    await drain(consumer)
    assert consumer.delivered == [6, 7, 8, 9, 10, 11, 12, 13]
    assert consumer._read_offset[TP] == 13


@pytest.fixture
def installed() -> Iterator[None]:
    """`install_drain`, undone after the test (other tests run Faust's own loop)."""
    patched = [
        (Consumer, "_drain_messages"),
        (SubscriptionState, "seek"),
        (SubscriptionState, "assign_from_subscribed"),
        (Fetcher, "request_offset_reset"),
        (AIOKafkaConsumerThread, "_fetch_records"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name in patched]
    install_drain(fast=True)
    yield
    for owner, name, original in originals:
        setattr(owner, name, original)


@pytest.mark.usefixtures("installed")
async def test_aiokafka_seeks_and_assignments_are_counted_per_partition() -> None:
    state = SubscriptionState()
    state.subscribe(topics={"t"})
    t0, t1, t2 = (TopicPartition("t", p) for p in range(3))
    state.assign_from_subscribed({t0, t1})
    seeks = seeks_of(state)
    assigned = seeks.count
    state.seek(t1, 5)
    assert seeks.since(t1, assigned)
    assert not seeks.since(t0, assigned)
    sought = seeks.count
    # A new assignment moves every partition it takes or gives up: their earlier
    # fetches are read again from the committed offsets.
    state.assign_from_subscribed({t0, t2})
    assert seeks.since(t0, sought) and seeks.since(t1, sought) and seeks.since(t2, sought)
