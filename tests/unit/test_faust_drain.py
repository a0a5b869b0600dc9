"""The consumer read loop (pipeline/faust_drain.py) around a partition sought back at
recovery's end: a batch fetched before the seek must not move the partition's read
offset past the sought record, or that record and the ones after it are skipped when
they are read again (lost, and the commit stuck there)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.faust_drain import _drain_messages, reseek_from

pytestmark = pytest.mark.unit

TP = ("t.touchpoints.raw.web", 0)


class FakeConsumer:
    """Just what the loop touches: batches to hand out, the records it delivered, the
    gaps it noted and its read offsets."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
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
        self.on_batch: list[Any] = []  # run before each batch is handed out
        self.on_delivery: dict[int, Any] = {}  # run while a record's callback is pending

    async def callback(self, message: Any) -> None:
        self.delivered.append(message.offset)
        if message.offset in self.on_delivery:
            self.on_delivery.pop(message.offset)()

    def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        async def batch() -> AsyncIterator[tuple[Any, Any]]:
            if not self.batches:
                self._stopped.set()
                return
            offsets = self.batches.pop(0)
            if self.on_batch:
                self.on_batch.pop(0)()
            for offset in offsets:
                yield TP, SimpleNamespace(offset=offset, topic=TP[0])

        return batch()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _add_gap(self, tp: Any, start: int, end: int) -> None:
        self.gaps.append((start, end))

    async def wait_first(self, *coroutines: Any) -> None:
        await coroutines[0]
        for other in coroutines[1:]:
            other.close()


@pytest.mark.parametrize("fast", [True, False])
async def test_a_batch_fetched_before_a_seek_back_does_not_skip_the_records_read_again(
    fast: bool,
) -> None:
    # Records up to 10 were read, then dropped at recovery's end; the partition is sought
    # back to 5 while a batch fetched before the seek (11, 12) goes through.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10

    def seek_back() -> None:
        reseek_from(consumer)[TP] = 5
        consumer._read_offset[TP] = 5  # what Faust's seek does

    consumer.on_batch = [seek_back]
    await _drain_messages(consumer, SimpleNamespace(_stopped=asyncio.Event()), fast)
    assert consumer.delivered == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert consumer.gaps == []
    assert consumer._read_offset[TP] == 13


async def test_without_the_barrier_the_records_read_again_are_lost() -> None:
    # The failure the barrier prevents, as Faust 0.15.3's loop has it.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10

    def seek_back_unguarded() -> None:
        consumer._read_offset[TP] = 5

    consumer.on_batch = [seek_back_unguarded]
    await _drain_messages(consumer, SimpleNamespace(_stopped=asyncio.Event()), True)
    assert consumer.gaps == [(6, 11)]  # 6..10 taken for done without being read
    assert consumer.delivered == [11, 12, 12, 13]  # 5 to 10 never delivered


async def test_a_seek_back_during_a_callback_is_not_undone_by_the_record_s_read_offset() -> None:
    # The seek runs while record 11's callback is pending; the loop then sets the read
    # offset to 11 over the seek's 5: the sought record must still bring it back to 5.
    consumer = FakeConsumer([[11, 12], [5, 6, 7, 8, 9, 10, 11, 12], [13]])
    consumer._read_offset[TP] = 10

    def seek_back() -> None:
        reseek_from(consumer)[TP] = 5
        consumer._read_offset[TP] = 5

    consumer.on_delivery = {11: seek_back}
    await _drain_messages(consumer, SimpleNamespace(_stopped=asyncio.Event()), True)
    assert consumer.delivered == [11, 5, 6, 7, 8, 9, 10, 11, 12, 13]  # 11 twice: redelivered
    assert consumer.gaps == []
