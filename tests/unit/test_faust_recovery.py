"""Where the stream partitions are read from again once recovery has finished."""

from __future__ import annotations

from faust.tables.recovery import Recovery

from pipeline.faust_recovery import (
    install_reseek_after_recovery,
    on_recovery_completed,
    reseek_targets,
)


def test_a_partition_with_a_committed_offset_is_read_again_from_it() -> None:
    assert reseek_targets({("raw", 0): 12, ("raw", 1): 7}, {}) == {("raw", 0): 12, ("raw", 1): 7}


def test_a_partition_the_group_never_committed_is_read_again_from_its_earliest_record() -> None:
    # The consumer started there (auto_offset_reset "earliest"): what it fetched before
    # Faust emptied the queues is read again, not skipped.
    targets = reseek_targets({("raw", 0): None, ("raw", 1): 0, ("raw", 2): 5}, {("raw", 0): 3})
    assert targets == {("raw", 0): 3, ("raw", 1): 0, ("raw", 2): 5}


def test_installing_replaces_fausts_end_of_recovery() -> None:
    original = Recovery.on_recovery_completed
    try:
        install_reseek_after_recovery()
        assert Recovery.on_recovery_completed is on_recovery_completed
    finally:
        Recovery.on_recovery_completed = original  # type: ignore[method-assign]  # restore
