"""Recovery's end: which records are read again after Faust emptied the stream queues,
and the seek to the committed offsets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP

from pipeline.faust_recovery import (
    first_offsets,
    install_reseek_after_recovery,
    on_recovery_completed,
    perform_seek,
)


def queued(topic: str, partition: int, offset: int) -> SimpleNamespace:
    """A stream event as a queue holds it: the Kafka record is its `message`."""
    return SimpleNamespace(message=SimpleNamespace(tp=TP(topic, partition), offset=offset))


def test_each_partition_is_read_again_from_the_first_record_the_queues_dropped() -> None:
    items = [queued("raw", 0, 15), queued("raw", 0, 12), queued("raw", 1, 7), queued("raw", 0, 13)]
    assert first_offsets(items) == {TP("raw", 0): 12, TP("raw", 1): 7}


def test_queue_items_without_a_kafka_record_are_ignored() -> None:
    assert first_offsets([object(), SimpleNamespace(message=None), queued("raw", 2, 0)]) == {
        TP("raw", 2): 0
    }


def test_installing_replaces_fausts_end_of_recovery() -> None:
    originals = Recovery.on_recovery_completed, Consumer.perform_seek
    try:
        install_reseek_after_recovery()
        assert Recovery.on_recovery_completed is on_recovery_completed
        assert Consumer.perform_seek is perform_seek
    finally:
        Recovery.on_recovery_completed, Consumer.perform_seek = originals  # type: ignore[method-assign]  # restore


class KafkaConsumer:
    """aiokafka's consumer as the seek uses it: committed offsets (an await each), seeks."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.committed_offsets = committed
        self.sought: dict[TP, int] = {}
        self.sought_while_asking: list[dict[TP, int]] = []

    def assignment(self) -> set[TP]:
        return set(self.committed_offsets)

    async def committed(self, tp: TP) -> int | None:
        self.sought_while_asking.append(dict(self.sought))
        return self.committed_offsets[tp]

    def seek(self, tp: TP, offset: int) -> None:
        self.sought[tp] = offset


class ConsumerThread:
    def __init__(self, kafka: KafkaConsumer, faust: Any) -> None:
        self.kafka, self.consumer = kafka, faust

    def _ensure_consumer(self) -> KafkaConsumer:
        return self.kafka

    async def call_thread(self, method: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await method(*args)


async def test_every_partition_is_sought_to_its_committed_offset_once_all_are_known() -> None:
    committed = {TP("raw", 0): 12, TP("raw", 1): None, TP("raw", 2): 0}
    kafka = KafkaConsumer(committed)
    faust = SimpleNamespace(_read_offset={TP("raw", 0): 30, TP("raw", 1): 9}, _committed_offset={})
    faust._thread = ConsumerThread(kafka, faust)
    await perform_seek(faust)
    # Nothing sought while offsets were asked (the flow may run meanwhile): the read
    # offsets are set in the same step as the seeks, not after records were read.
    assert kafka.sought_while_asking == [{}, {}, {}]
    assert kafka.sought == {TP("raw", 0): 12}  # as aiokafka: no seek to 0 or to nothing
    assert faust._read_offset == {TP("raw", 0): 12, TP("raw", 1): None, TP("raw", 2): 0}
    assert faust._committed_offset == {TP("raw", 0): 12, TP("raw", 2): None}
