"""Batch planning: one insert per source partition, nothing stored twice."""

from __future__ import annotations

import pytest

from pipeline.sink.batching import SourcedRow, plan_inserts

pytestmark = pytest.mark.unit


def rows(topic: str, partition: int, offsets: list[int]) -> list[SourcedRow]:
    return [SourcedRow(topic, partition, offset, (f"v{offset}",)) for offset in offsets]


def test_rows_are_grouped_per_partition_in_offset_order_with_stable_tokens() -> None:
    batch = rows("a", 1, [7, 5, 6]) + rows("a", 0, [3]) + rows("b", 0, [9])
    planned = plan_inserts("t", batch, {})
    assert [(p.source, [r.offset for r in p.rows]) for p in planned] == [
        (("a", 0), [3]),
        (("a", 1), [5, 6, 7]),
        (("b", 0), [9]),
    ]
    assert planned[1].token == "t/a/1/5-7"
    assert planned[1].values()[0] == ["v5", "a", 1, 5]


def test_rows_at_or_below_the_stored_watermark_are_dropped() -> None:
    planned = plan_inserts("t", rows("a", 0, [4, 5, 6, 7]), {("a", 0): 5})
    assert [r.offset for r in planned[0].rows] == [6, 7]
    assert plan_inserts("t", rows("a", 0, [1, 2]), {("a", 0): 5}) == []


def test_a_redelivered_offset_in_one_batch_is_kept_once() -> None:
    planned = plan_inserts("t", rows("a", 0, [1, 2, 2, 1, 3]), {})
    assert [r.offset for r in planned[0].rows] == [1, 2, 3]


def test_a_rebatched_retry_yields_only_the_unstored_tail() -> None:
    """A crash after storing 0-9 but before committing: offsets 0-14 come again."""
    first = plan_inserts("t", rows("a", 0, list(range(10))), {})
    stored = {first[0].source: first[0].last_offset}
    again = plan_inserts("t", rows("a", 0, list(range(15))), stored)
    assert [r.offset for r in again[0].rows] == list(range(10, 15))
    assert again[0].token != first[0].token
