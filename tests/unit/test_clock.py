"""A partition's watermark waits for every source still to be read and for work still on
its way from other partitions, so a backlog judges lateness as live traffic does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.journeys.clock import LEVELS, PartitionClock

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
LATENESS = timedelta(minutes=5)


def clock(partitions: int = 1, own: int = 0) -> PartitionClock:
    made = PartitionClock(LATENESS, idle_after=60.0)
    made.expect_peers(partitions, own, 0.0)
    return made


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_slowest_source_sets_the_watermark() -> None:
    c = clock()
    c.observe("web/0", at(60), 1.0)
    c.observe("email/0", at(10), 1.0)
    assert c.watermark(1.0) == at(10) - LATENESS


def test_a_source_with_records_not_read_yet_holds_the_watermark_until_it_speaks() -> None:
    c = clock()
    c.expect({"web/0", "email/0"}, 0.0)
    c.observe("web/0", at(600), 1.0)  # a backlog raced through one channel first
    assert c.watermark(1.0) is None
    c.observe("email/0", at(5), 2.0)
    assert c.watermark(2.0) == at(5) - LATENESS
    c.expect(set(), 3.0)  # caught up everywhere: nothing left to wait for
    assert c.watermark(3.0) == at(5) - LATENESS


def test_a_source_expected_but_silent_past_idle_after_stops_holding() -> None:
    c = clock()
    c.expect({"email/0"}, 0.0)
    c.observe("web/0", at(60), 1.0)
    assert c.watermark(30.0) is None
    assert c.watermark(61.0) == at(60) - LATENESS


def test_a_partition_not_heard_from_yet_holds_the_watermark() -> None:
    c = clock(partitions=2, own=0)
    c.observe("web/0", at(60), 1.0)
    assert c.watermark(1.0) is None
    c.hear(1, (at(20),) * LEVELS, 2.0)
    assert c.watermark(2.0) == at(20) - LATENESS


def exchange(clocks: list[PartitionClock], wall: float) -> None:
    """Flushes in which every partition hears every other's frontier, until they settle."""
    for _ in range(LEVELS):
        frontiers = [c.frontier(wall) for c in clocks]
        for me, c in enumerate(clocks):
            for other, frontier in enumerate(frontiers):
                if other != me:
                    c.hear(other, frontier, wall)


def test_work_forwarded_on_time_is_not_late_where_it_lands() -> None:
    """Partition a reads a touchpoint at 10:59 (its source is at 11:00: on time) and
    forwards it; b's own source has raced to 13:00 meanwhile. b's watermark waits for a's
    frontier as of a's flush before the read, so the touchpoint is not late on arrival."""
    a, b = clock(2, own=0), clock(2, own=1)
    a.observe("web/0", at(58), 1.0)
    b.observe("ads/1", at(58), 1.0)
    exchange([a, b], 1.0)
    a.observe("web/0", at(60), 2.0)  # reads it (10:59) and more: forwarded next flush
    b.observe("ads/1", at(180), 2.0)
    watermark = b.watermark(2.0)
    assert watermark is not None and watermark <= at(59)
    exchange([a, b], 3.0)  # a's next flushes: the touchpoint, then the frontier
    assert b.watermark(3.0) == at(60) - LATENESS


def test_work_two_hops_away_holds_the_watermark_too() -> None:
    """a -> b -> c: c hears a's newer frontier directly, but b has not passed on yet what
    it got from a (a touchpoint at 10:59 on its way to c), and b's frontier says so."""
    a, b, c = clock(3, own=0), clock(3, own=1), clock(3, own=2)
    a.observe("web/0", at(58), 1.0)
    b.observe("web/1", at(300), 1.0)
    c.observe("web/2", at(300), 1.0)
    exchange([a, b, c], 1.0)
    a.observe("web/0", at(300), 2.0)
    for _ in range(LEVELS):  # a and c exchange news; b is a flush behind
        c.hear(0, a.frontier(2.0), 2.0)
        a.hear(2, c.frontier(2.0), 2.0)
    assert a.frontier(2.0)[0] == at(300), "a's own sources are far ahead"
    watermark = c.watermark(2.0)
    assert watermark is not None and watermark <= at(59)


def test_a_restored_clock_keeps_its_sources_and_waits_for_the_other_partitions() -> None:
    c = clock(partitions=2, own=0)
    c.observe("web/0", at(60), 1.0)
    c.hear(1, (at(30),) * LEVELS, 1.0)
    assert c.watermark(1.0) == at(30) - LATENESS
    again = PartitionClock.restore(c.snapshot(), LATENESS, 60.0, 1.0)
    again.expect_peers(2, 0, 5.0)
    assert again.watermark(5.0) == at(30) - LATENESS  # never backwards, and waits
    again.hear(1, (at(45),) * LEVELS, 6.0)
    assert again.watermark(6.0) == at(45) - LATENESS


def test_when_everything_is_silent_event_time_moves_on_with_the_wall_clock() -> None:
    c = clock(partitions=2, own=0)
    c.observe("web/0", at(60), 0.0)
    c.hear(1, (None,) * LEVELS, 0.0)
    assert c.watermark(0.0) == at(60) - LATENESS
    assert c.watermark(120.0) == at(61) - LATENESS  # idle after 60 s, then 1 s per s


def test_when_everything_is_silent_event_time_moves_on_from_the_latest_it_knew() -> None:
    # Its own records are from 10:00, another partition's from day 90: once all is
    # silent, the idle clock starts from day 90, not from 10:00 (it stood still for 90
    # idle days: a touchpoint merged in from there waited that long for its session).
    c = PartitionClock(LATENESS, idle_after=1.0, idle_rate=86400.0)
    c.expect_peers(2, 0, 0.0)
    c.observe("web/0", at(0), 0.0)
    day_90 = at(90 * 24 * 60)
    c.hear(1, (day_90,) * LEVELS, 5.0)  # its own source is silent by now
    assert c.watermark(5.0) == day_90 - LATENESS
    c.hear(1, (None,) * LEVELS, 6.0)  # the other partition falls silent too
    assert c.watermark(6.0) == day_90 - LATENESS  # idle_after after the last W it set
    assert c.watermark(8.0) == day_90 - LATENESS + timedelta(days=2)  # then a day per s
