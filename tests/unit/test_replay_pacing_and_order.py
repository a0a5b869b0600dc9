"""Sending pace (pure arithmetic, no sleeping) and event-time order within and across files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.files.ordering import Reorder, merge
from pipeline.files.pacing import Pacer, send_delay

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_send_delay_compresses_event_time_gaps_by_the_speed() -> None:
    # An hour of history at speed 60 takes a minute of wall time.
    assert send_delay(at(60), T0, started=100.0, now=100.0, speed=60) == 60.0
    assert send_delay(at(60), T0, started=100.0, now=130.0, speed=60) == 30.0
    assert send_delay(at(60), T0, started=100.0, now=170.0, speed=60) == 0.0  # running late
    assert send_delay(at(1), T0, started=0.0, now=0.0, speed=0.5) == 120.0  # slower than life
    assert send_delay(at(-5), T0, started=0.0, now=0.0, speed=10) == 0.0  # out of order: now


def test_the_pacer_starts_its_clock_at_the_first_event() -> None:
    pacer = Pacer(speed=60)
    assert pacer.delay(at(10), now=500.0) == 0.0  # the first event sets the origin
    assert pacer.delay(at(11), now=500.0) == 1.0
    assert pacer.delay(at(70), now=530.0) == 30.0
    assert Pacer().delay(at(600), now=0.0) == 0.0  # no speed: as fast as possible
    with pytest.raises(ValueError, match="more than zero"):
        Pacer(speed=0)


def test_reorder_sorts_within_its_window_and_counts_what_came_too_late() -> None:
    order = Reorder(window=2)
    minutes = [0, 2, 1, 3, 5, 4, 0.5, 6]
    out = list(order([at(m) for m in minutes], key=lambda t: t))
    # 1 and 4 are put back in place; 0.5 is older than what already left: sent at once.
    assert out == [at(m) for m in [0, 1, 2, 3, 0.5, 4, 5, 6]]
    assert order.out_of_order == 1
    assert list(Reorder(window=100)([at(m) for m in minutes], key=lambda t: t)) == sorted(
        at(m) for m in minutes
    )
    with pytest.raises(ValueError, match="at least one row"):
        Reorder(window=0)


def test_files_are_merged_by_event_time_ties_in_file_order() -> None:
    a = [("a", at(0)), ("a", at(2)), ("a", at(4))]
    b = [("b", at(1)), ("b", at(2)), ("b", at(3))]
    merged = list(merge([a, b], key=lambda item: item[1]))
    assert merged == [a[0], b[0], a[1], b[1], b[2], a[2]]
