"""The journey engine's pure logic: sessions, stages and journeys in event time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from pipeline.journeys import codec
from pipeline.journeys.engine import EngineConfig, Outputs, advance, new_customer, receive
from pipeline.journeys.state import CustomerState
from schemas.touchpoint import Touchpoint
from tests.factories import T0, engine_config, five_stage_model, partition, run, touchpoint

pytestmark = pytest.mark.unit

MIN = timedelta(minutes=1)


def closed_sessions(out: Outputs) -> list[tuple[str, int]]:
    """(entry event id, touchpoints) of every final session version, by start."""
    final = {}
    for record in out.sessions:
        if record.status != "opened":
            final[record.session_id] = record
    ordered = sorted(final.values(), key=lambda r: r.started_at)
    return [(r.entry_event_id, r.touchpoints) for r in ordered]


def fingerprint(out: Outputs) -> tuple[object, ...]:
    """Everything a run produced, independent of emission order."""
    return (
        sorted((t.event_id, t.session_id, t.stage, t.is_late) for t in out.touchpoints),
        sorted(codec.encode(r) for r in out.sessions),
        sorted(codec.encode(t) for t in out.transitions),
    )


def test_a_gap_of_exactly_the_inactivity_gap_keeps_the_session() -> None:
    out, _ = run(
        [
            touchpoint("page_view", 0 * MIN, event_id="a"),
            touchpoint("product_view", 30 * MIN, event_id="b"),  # exactly the gap: same
            touchpoint("product_view", 60 * MIN + timedelta(milliseconds=1), event_id="c"),
        ]
    )
    assert closed_sessions(out) == [("a", 2), ("c", 1)]


def test_sessions_split_at_the_maximum_length() -> None:
    # A touchpoint every 20 minutes for 26 hours: never idle, but no session passes 24 h.
    events = [touchpoint("page_view", 20 * MIN * i, event_id=f"e{i:03}") for i in range(79)]
    out, _ = run(events)
    sessions = closed_sessions(out)
    assert sessions == [("e000", 73), ("e073", 6)]  # 0 .. 24 h inclusive, then the rest
    assert all(r.duration_seconds <= 24 * 3600 for r in out.sessions)


def test_out_of_order_within_the_lateness_gives_the_same_result() -> None:
    events = [
        touchpoint("ad_click", i * 2 * MIN, event_id=f"e{i:02}", user=f"u{i % 3}")
        for i in range(30)
    ]
    in_order, _ = run(events)
    shuffled = events[:]
    # Swap neighbours at most 4 minutes apart: well within the 5 minute lateness.
    rng = random.Random(7)
    for i in range(0, len(shuffled) - 1, 2):
        if rng.random() < 0.7:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    reordered, _ = run(shuffled)
    assert fingerprint(reordered) == fingerprint(in_order)
    assert not any(t.is_late for t in reordered.touchpoints)


def test_a_late_touchpoint_updates_its_stored_session_as_a_new_version() -> None:
    events = [
        touchpoint("page_view", 0 * MIN, event_id="a"),
        touchpoint("product_view", 10 * MIN, event_id="b"),
        # The customer's session ends (gap), and the partition moves on by an hour ...
        touchpoint("page_view", 90 * MIN, event_id="other", user="u-2"),
        # ... then a touchpoint from minute 5 arrives: far beyond the lateness.
        touchpoint("chat_started", 5 * MIN, event_id="late"),
    ]
    out, _ = run(events, flush=False)
    late = [t for t in out.touchpoints if t.event_id == "late"]
    assert len(late) == 1 and late[0].is_late
    versions = [r for r in out.sessions if r.entry_event_id == "a"]
    assert [(r.version, r.status, r.touchpoints, r.is_late) for r in versions] == [
        (1, "opened", 1, False),
        (2, "closed", 2, False),
        (3, "closed", 3, True),
    ]
    assert late[0].session_id == versions[-1].session_id


def test_a_late_touchpoint_far_from_any_session_gets_a_session_of_its_own() -> None:
    events = [
        touchpoint("page_view", 600 * MIN, event_id="a"),
        touchpoint("page_view", 900 * MIN, event_id="b", user="u-2"),
        touchpoint("ad_click", 0 * MIN, event_id="early"),
    ]
    out, _ = run(events)
    mine = [r for r in out.sessions if r.entry_event_id == "early"]
    assert [(r.status, r.touchpoints, r.is_late) for r in mine] == [("closed", 1, True)]


def test_duplicates_are_processed_once() -> None:
    first = touchpoint("product_view", 0 * MIN, event_id="dup")
    again = touchpoint("product_view", 0 * MIN, event_id="dup")
    later = touchpoint("page_view", 20 * MIN, event_id="x")
    once, _ = run([first, later])
    twice, _ = run([first, again, later, first])  # before and after release
    assert fingerprint(twice) == fingerprint(once)
    assert [t.event_id for t in twice.touchpoints].count("dup") == 1


def test_interleaved_customers_get_the_sessions_they_would_get_alone() -> None:
    rng = random.Random(3)
    per_customer = {
        user: [
            touchpoint("page_view", rng.randint(0, 600) * MIN, user=user, event_id=f"{user}-{i}")
            for i in range(15)
        ]
        for user in ("ann", "bob", "cem", "dee")
    }
    alone = {}
    for user, events in per_customer.items():
        out, _ = run(sorted(events, key=lambda t: t.event_time))
        alone[user] = closed_sessions(out)
    together, _ = run(
        sorted((t for events in per_customer.values() for t in events), key=lambda t: t.event_time)
    )
    for user in per_customer:
        mine = Outputs(sessions=[r for r in together.sessions if r.customer_id == user])
        assert closed_sessions(mine) == alone[user], user


def test_time_zones_are_compared_as_instants() -> None:
    berlin = timezone(timedelta(hours=1))
    events = [
        touchpoint("page_view", datetime(2026, 3, 1, 9, 20, tzinfo=UTC), event_id="a"),
        touchpoint("page_view", datetime(2026, 3, 1, 10, 45, tzinfo=berlin), event_id="b"),
    ]
    out, _ = run(events)
    assert closed_sessions(out) == [("a", 2)]  # 09:20Z and 09:45Z: 25 minutes apart
    assert all(r.started_at.utcoffset() == timedelta(0) for r in out.sessions)


def test_stages_move_forward_with_transitions_and_drop_offs() -> None:
    events = [
        touchpoint("ad_click", 0 * MIN, event_id="ad"),  # awareness (entered)
        touchpoint("page_view", 2 * MIN, event_id="land"),  # leaves: drop-off at awareness
        touchpoint("product_view", 3 * 24 * 60 * MIN, event_id="view"),  # on, then leaves
        touchpoint("page_view", 6 * 24 * 60 * MIN, event_id="look"),  # nothing new: drop-off
        touchpoint("order_placed", 8 * 24 * 60 * MIN, event_id="buy", revenue="129.00"),
        touchpoint("order_placed", 20 * 24 * 60 * MIN, event_id="again", revenue="40.00"),
    ]
    out, engine = run(events)
    moves = [(t.kind, t.from_stage, t.to_stage, t.event_id) for t in out.transitions]
    assert moves == [
        ("entered", None, "awareness", "ad"),
        ("dropped_off", "awareness", "awareness", "land"),
        ("advanced", "awareness", "consideration", "view"),
        ("dropped_off", "consideration", "consideration", "view"),
        ("dropped_off", "consideration", "consideration", "look"),
        ("advanced", "consideration", "decision", "buy"),  # bought: passed, no drop-off
        ("advanced", "decision", "retention", "again"),
    ]
    advanced = out.transitions[2]
    assert advanced.seconds_since_previous == 3 * 24 * 3600
    state = engine.store.get("u-1")
    assert state is not None
    assert state.stage == "retention"
    assert state.purchases == 2 and str(state.revenue) == "169.00"
    assert state.first_reached["decision"] == T0 + 8 * 24 * 60 * MIN
    assert state.sessions == 5
    final = {r.session_id: r for r in out.sessions}
    outcomes = [
        (r.passed, r.dropped_off_at) for r in sorted(final.values(), key=lambda r: r.started_at)
    ]
    assert outcomes == [
        ([], "awareness"),
        (["awareness"], "consideration"),
        ([], "consideration"),
        (["consideration", "decision"], None),
        (["decision", "retention"], None),
    ]


def test_an_idle_partition_closes_its_sessions_by_the_wall_clock() -> None:
    engine = partition(idle_after=10, idle_rate=60)  # idle: one wall second = a minute
    engine.on_touchpoint("u-1", touchpoint("page_view", 0 * MIN), wall=0)
    assert not engine.on_tick(wall=5)  # not idle yet: W = -5 min, nothing final
    released = engine.on_tick(wall=30)  # W = -5 + 20 min: the touchpoint is final
    assert [r.status for r in released.sessions] == ["opened"]
    assert not engine.on_tick(wall=40).sessions  # W = +25 min: the gap is not over
    closed = engine.on_tick(wall=60)  # W = +45 min, past the 30 minute gap: closed
    assert [r.status for r in closed.sessions] == ["closed"]


def test_a_replay_is_not_cut_short_by_the_wall_clock() -> None:
    """Old data, fed quickly: sessions follow event time, whatever the wall clock says."""
    events = [touchpoint("page_view", 10 * MIN * i, event_id=f"r{i}") for i in range(6)]
    engine = partition(idle_after=1, idle_rate=3600)
    out = Outputs()
    for i, tp in enumerate(events):
        out.extend(engine.on_touchpoint("u-1", tp, wall=0.1 * i))  # busy: never idle
    out.extend(engine.flush())
    assert closed_sessions(out) == [("r0", 6)]


def test_idle_customers_leave_the_hot_state_after_the_retention() -> None:
    config = engine_config(retention=timedelta(days=30))
    engine = partition(config)
    engine.on_touchpoint("old", touchpoint("page_view", 0 * MIN, user="old"), wall=0)
    engine.on_touchpoint("new", touchpoint("page_view", 31 * 24 * 60 * MIN, user="new"), wall=1)
    engine.on_touchpoint("new", touchpoint("page_view", 40 * 24 * 60 * MIN, user="new"), wall=2)
    assert engine.store.get("old") is None
    assert engine.store.get("new") is not None


def test_a_live_touchpoint_is_queryable_at_arrival_and_replaced_at_release() -> None:
    """A touchpoint that arrives within the lateness of its event time gets a provisional
    row at once (session and stage as the customer stands); history does not."""
    config = EngineConfig(stage_model=five_stage_model(), provisional=True)
    state = new_customer("user:u-1", 0)
    live = touchpoint("product_view", 0 * MIN, event_id="live")
    out = receive(state, live, live.event_time - config.allowed_lateness, config)
    (row,) = out.provisional
    assert (row.event_id, row.customer_id, row.stage) == ("live", "user:u-1", "consideration")
    assert out.touchpoints == []  # the final row comes when the watermark passes
    released = advance(state, live.event_time, config)
    assert [t.event_id for t in released.touchpoints] == ["live"]
    assert released.touchpoints[0].session_id == row.session_id
    old = msgspec.structs.replace(
        touchpoint("page_view", 1 * MIN, event_id="old"),
        received_at=live.event_time + timedelta(days=30),
    )
    assert receive(state, old, live.event_time, config).provisional == []


def live_config() -> EngineConfig:
    return EngineConfig(stage_model=five_stage_model(), provisional=True)


def arrive(state: CustomerState, live: Touchpoint, config: EngineConfig) -> Outputs:
    """`live` arrives as live traffic does: the watermark its event time minus the lateness."""
    return receive(state, live, live.event_time - config.allowed_lateness, config)


def test_a_live_touchpoint_that_opens_a_session_makes_the_session_queryable_at_arrival() -> None:
    config = live_config()
    state = new_customer("user:u-1", 0)
    first = arrive(state, touchpoint("product_view", 0 * MIN, event_id="a"), config)
    (session,) = first.sessions
    assert (session.status, session.version, session.entry_event_id, session.touchpoints) == (
        "provisional", 0, "a", 1,
    )  # fmt: skip
    assert session.session_id == first.provisional[0].session_id
    second = arrive(state, touchpoint("add_to_cart", 2 * MIN, event_id="b"), config)
    assert second.sessions == []  # it joins the provisional session: no new one
    assert second.provisional[0].session_id == session.session_id
    assert second.provisional[0].sequence == 2
    released = advance(state, T0 + 2 * MIN, config)
    assert [(r.session_id, r.status, r.version) for r in released.sessions] == [
        (session.session_id, "opened", 1)  # replaces the provisional row (version 0)
    ]
    assert state.announced == []


def test_a_provisional_session_that_does_not_come_to_be_is_withdrawn() -> None:
    """A later touchpoint arrives first and opens a provisional session; the earlier one
    then opens the session both belong to: the first provisional session is withdrawn
    (same key and start, a higher version) when its touchpoint is released."""
    config = live_config()
    state = new_customer("user:u-1", 0)
    later = touchpoint("add_to_cart", 2 * MIN, event_id="later")
    earlier = touchpoint("product_view", 0 * MIN, event_id="earlier")
    (phantom,) = arrive(state, later, config).sessions
    (real,) = receive(state, earlier, later.event_time - config.allowed_lateness, config).sessions
    assert (phantom.entry_event_id, real.entry_event_id) == ("later", "earlier")
    released = advance(state, T0 + 2 * MIN, config)
    rows = [(r.session_id, r.status, r.version, r.started_at) for r in released.sessions]
    assert rows == [
        (real.session_id, "opened", 1, earlier.event_time),
        (phantom.session_id, "withdrawn", 1, later.event_time),
    ]
    assert state.announced == []


def test_history_gets_no_provisional_session() -> None:
    config = live_config()
    state = new_customer("user:u-1", 0)
    old = msgspec.structs.replace(
        touchpoint("page_view", 0 * MIN), received_at=T0 + timedelta(days=30)
    )
    out = receive(state, old, T0 - config.allowed_lateness, config)
    assert out.sessions == [] and out.provisional == []
