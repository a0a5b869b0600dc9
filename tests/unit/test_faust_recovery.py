"""Which records are read again after Faust's end of recovery emptied the stream queues."""

from __future__ import annotations

from types import SimpleNamespace

from faust.tables.recovery import Recovery
from faust.types import TP

from pipeline.faust_recovery import (
    first_offsets,
    install_reseek_after_recovery,
    on_recovery_completed,
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
    original = Recovery.on_recovery_completed
    try:
        install_reseek_after_recovery()
        assert Recovery.on_recovery_completed is on_recovery_completed
    finally:
        Recovery.on_recovery_completed = original  # type: ignore[method-assign]  # restore
