"""Event-time order: within one file through a bounded look-ahead, across files by merging.

A file is replayed in event-time order. Exports are usually sorted, or nearly (a few
rows swapped); up to `window` rows are held back and released smallest time first, so
local disorder is repaired with bounded memory. A row that is older than one already
released cannot be put back in place: it is released at once and counted as out of
order (the pipeline treats it as a late event). Several files are merged into one
event-time stream, so events of one period from two exports interleave as they happened.

    items (any order) -> in_order(window) -> items, time non-decreasing (but the late ones)

Usage:
    order = Reorder(window=10_000)
    merged = merge([order(rows_a, key), order(rows_b, key)], key)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


class Reorder:
    """Sorts streams within a bounded window; counts what arrived too late to sort."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("the sort window holds at least one row")
        self.window = window
        self.out_of_order = 0

    def __call__(self, items: Iterable[T], key: Callable[[T], datetime]) -> Iterator[T]:
        heap: list[tuple[datetime, int, T]] = []
        released: datetime | None = None
        for seq, item in enumerate(items):
            when = key(item)
            if released is not None and when < released:
                self.out_of_order += 1
                yield item  # too late to put in place: send now, the pipeline copes
                continue
            heapq.heappush(heap, (when, seq, item))
            if len(heap) > self.window:
                released, _, first = heapq.heappop(heap)
                yield first
        while heap:
            _, _, first = heapq.heappop(heap)
            yield first


def merge(streams: Iterable[Iterable[T]], key: Callable[[T], datetime]) -> Iterator[T]:
    """One stream in event-time order from several (ties: the earlier file first)."""
    numbered = (
        ((key(item), index, seq, item) for seq, item in enumerate(stream))
        for index, stream in enumerate(streams)
    )
    for *_, item in heapq.merge(*numbered, key=lambda entry: entry[:3]):
        yield item
