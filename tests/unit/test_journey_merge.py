"""Merging journeys (pure): one journey afterwards, nothing counted twice, repeats ignored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pipeline.journeys import codec
from pipeline.journeys.engine import Outputs, receive
from pipeline.journeys.identity import CustomerRef
from pipeline.journeys.merging import Absorb, absorb
from pipeline.journeys.partition import JourneyPartition
from pipeline.journeys.pipeline import Item, decode_envelope, encode_envelope
from pipeline.journeys.resolution import EngineMerge
from pipeline.journeys.state import CustomerState
from schemas.outputs import AttributionCredit
from schemas.touchpoint import Touchpoint
from tests.factories import T0, engine_config, partition, touchpoint
from tests.seed_journey import EXPECTED_FIRST_REACHED, seed_journey

pytestmark = pytest.mark.unit

ANN = CustomerRef(id="anon:ann", born=T0)
PHONE = CustomerRef(id="anon:phone", born=T0 + timedelta(days=1))


def feed(engine: JourneyPartition, customer: str, touchpoints: list[Touchpoint]) -> Outputs:
    out = Outputs()
    for t in touchpoints:
        out.extend(engine.on_touchpoint(customer, t, 0.0))
    return out


def state(engine: JourneyPartition, customer: str) -> CustomerState:
    found = engine.store.get(customer)
    assert found is not None
    return found


def merge(engine: JourneyPartition, loser: CustomerRef, winner: CustomerRef) -> Outputs:
    """Both sides of a merge on one partition, as the agent would route them."""
    out = engine.on_merge(loser, winner)
    for target, moved in list(out.moves):
        out.extend(engine.on_absorb(target, moved, 0.0))
    return out


def test_seed_journey_split_across_two_customers_is_one_journey_after_the_merge() -> None:
    events = seed_journey()
    engine = partition()
    feed(engine, ANN.id, events[:11])  # anonymous, then the popup email and the coupon
    feed(engine, PHONE.id, events[11:])  # the newsletter onwards, on another device
    engine.flush()
    out = merge(engine, PHONE, ANN)
    journey = state(engine, ANN.id)
    assert journey.first_reached == EXPECTED_FIRST_REACHED
    assert (journey.stage, journey.touchpoints, journey.sessions) == ("advocacy", 24, 6)
    assert (journey.purchases, journey.revenue) == (2, Decimal("174.00"))
    assert (journey.first_event_id, journey.last_event_id) == ("ig-impression", "review")
    assert [step.event_id for step in journey.path] == [t.event_id for t in events]
    assert journey.absorbed == [PHONE.id]
    (snapshot,) = out.journeys
    assert snapshot.customer_id == ANN.id and snapshot.touchpoints == 24
    marker = state(engine, PHONE.id)
    assert marker.merged_into == ANN and marker.moved is not None


def test_a_touchpoint_applied_under_both_customers_counts_once() -> None:
    engine = partition()
    order = touchpoint("order_placed", timedelta(hours=1), event_id="order", revenue="50")
    feed(engine, ANN.id, [touchpoint("page_view", T0, event_id="v1"), order])
    feed(engine, PHONE.id, [order])  # redelivered after its identifier moved
    engine.flush()
    merge(engine, PHONE, ANN)
    journey = state(engine, ANN.id)
    assert (journey.touchpoints, journey.purchases, journey.revenue) == (2, 1, Decimal("50"))


def test_redelivered_merge_and_absorb_change_nothing() -> None:
    engine = partition()
    feed(engine, ANN.id, [touchpoint("page_view", T0)])
    feed(engine, PHONE.id, [touchpoint("product_view", timedelta(days=1))])
    engine.flush()
    merge(engine, PHONE, ANN)
    before = codec.encode(state(engine, ANN.id))
    again = merge(engine, PHONE, ANN)  # the merge message again: the same state moves again
    assert len(again.moves) == 1
    assert codec.encode(state(engine, ANN.id)) == before
    assert again.journeys == []


def test_touchpoints_of_a_merged_customer_go_on_to_the_winner() -> None:
    engine = partition()
    engine.on_merge(PHONE, ANN)  # the merge can overtake the loser's first touchpoint
    late = touchpoint("page_view", T0, event_id="late")
    out = engine.on_touchpoint(PHONE.id, late, 0.0)
    assert out.forwards == [(ANN, late)]
    assert out.touchpoints == [] and state(engine, PHONE.id).moved is None


def test_absorbing_into_a_customer_that_merged_since_passes_the_state_on() -> None:
    engine = partition()
    oldest = CustomerRef(id="user:first", born=T0 - timedelta(days=9))
    feed(engine, PHONE.id, [touchpoint("product_view", T0)])
    engine.on_merge(ANN, oldest)  # ann merged into an older customer meanwhile
    out = engine.on_merge(PHONE, ANN)
    ((target, moved),) = out.moves
    passed = engine.on_absorb(target, moved, 0.0)
    assert [(t.id, s.customer_id) for t, s in passed.moves] == [(oldest.id, PHONE.id)]
    engine.on_absorb(oldest, moved, 0.0)
    final = state(engine, oldest.id)
    assert final.touchpoints + len(final.pending) == 1  # applied, or waiting for the watermark
    assert final.absorbed == [PHONE.id]


def test_open_sessions_one_moves_over_two_close_the_losers() -> None:
    config = engine_config()
    engine = partition(config)
    later = touchpoint("page_view", timedelta(minutes=10), event_id="p2")
    feed(engine, PHONE.id, [touchpoint("product_view", T0, event_id="p1"), later])
    assert state(engine, PHONE.id).open is not None  # p1 applied, p2 waiting
    merge(engine, PHONE, ANN)
    winner = state(engine, ANN.id)
    assert winner.open is not None and winner.open.entry_event_id == "p1"
    assert winner.open.customer_id == PHONE.id  # its records keep the id they began with
    assert [t.event_id for t in winner.pending] == ["p2"]

    both = partition(config)
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    feed(both, ANN.id, [touchpoint("page_view", at, event_id="a1")])
    feed(both, PHONE.id, [touchpoint("product_view", at + timedelta(minutes=10), event_id="b1")])
    feed(both, ANN.id, [touchpoint("page_view", at + timedelta(minutes=20), event_id="a2")])
    ann, phone = state(both, ANN.id), state(both, PHONE.id)
    assert ann.open is not None and phone.open is not None
    out = merge(both, PHONE, ANN)
    (closed,) = [s for s in out.sessions if s.status == "closed"]
    assert closed.customer_id == PHONE.id and closed.entry_event_id == "b1"
    joined = state(both, ANN.id)
    assert joined.open is not None and joined.open.entry_event_id == "a1"
    assert [s.customer_id for s in joined.recent] == [PHONE.id]


def test_absorb_into_an_empty_winner_takes_everything() -> None:
    config = engine_config()
    loser = CustomerState(customer_id="a", touchpoints=3, purchases=1, revenue=Decimal(9))
    winner = CustomerState(customer_id="b")
    absorb(winner, loser, config)
    assert (winner.touchpoints, winner.purchases, winner.revenue) == (3, 1, Decimal(9))
    assert absorb(winner, loser, config).journeys == [] and winner.touchpoints == 3


def test_engine_messages_round_trip_as_json() -> None:
    messages: list[Item] = [
        EngineMerge(loser=PHONE, winner=ANN),
        Absorb(winner=ANN, state=CustomerState(customer_id=PHONE.id)),
    ]
    assert decode_envelope(encode_envelope(messages)) == messages


def test_a_merged_customers_provisional_sessions_are_withdrawn() -> None:
    """The loser's pending touchpoints are released under the winner's id: the sessions
    they opened provisionally under the loser's never come to be."""
    config = replace(engine_config(), provisional=True)
    loser = CustomerState(customer_id=PHONE.id)
    live = touchpoint("product_view", T0, event_id="live")
    (opened,) = receive(loser, live, T0 - config.allowed_lateness, config).sessions
    winner = CustomerState(customer_id=ANN.id)
    out = absorb(winner, loser, config)
    assert [(r.session_id, r.customer_id, r.status) for r in out.sessions] == [
        (opened.session_id, PHONE.id, "withdrawn")
    ]
    assert [t.event_id for t in winner.pending] == ["live"]  # released under the winner


def _latest_credits(
    credits: list[AttributionCredit],
) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    """(conversion, model, touch) -> (conversions, revenue) of the highest version, as
    ReplacingMergeTree's FINAL reads `attribution_credits`."""
    latest: dict[tuple[str, str, str], AttributionCredit] = {}
    for c in credits:
        key = (c.conversion_id, c.model, c.touch_event_id)
        if key not in latest or c.version >= latest[key].version:
            latest[key] = c
    return {key: (c.conversions, c.revenue) for key, c in latest.items()}


def test_a_merge_credits_conversions_again_as_one_customers() -> None:
    ad = touchpoint("ad_click", timedelta(0), user="ann", event_id="ad")
    email = touchpoint("email_clicked", timedelta(hours=2), user="phone", event_id="email")
    order = touchpoint("order_placed", timedelta(hours=3), user="phone", event_id="order",
                       revenue="90.00")  # fmt: skip
    engine = partition()
    before = feed(engine, ANN.id, [ad])
    before.extend(feed(engine, PHONE.id, [email, order]))
    before.extend(engine.flush())
    assert {c.touch_event_id for c in before.credits} == {"email"}  # the phone's path only
    merged = merge(engine, PHONE, ANN)
    assert {c.customer_id for c in merged.credits} == {ANN.id}
    alone = partition()
    reference = feed(alone, ANN.id, [ad, email, order])
    reference.extend(alone.flush())
    assert _latest_credits([*before.credits, *merged.credits]) == _latest_credits(reference.credits)
    first_touch = _latest_credits(merged.credits)[("order", "first_touch", "ad")]
    assert first_touch == (Decimal(1), Decimal("90.00"))


def test_a_goal_both_customers_reached_stays_the_earlier_ones_conversion() -> None:
    config = engine_config()
    config = replace(
        config, stage_model=replace(config.stage_model, conversion_goals=("consideration",))
    )
    engine = partition(config)
    ann = [
        touchpoint("ad_click", timedelta(0), user="ann", event_id="ad"),
        touchpoint("product_view", timedelta(hours=1), user="ann", event_id="view-1"),
    ]
    phone = [
        touchpoint("email_clicked", timedelta(hours=2), user="phone", event_id="email"),
        touchpoint("product_view", timedelta(hours=3), user="phone", event_id="view-2"),
    ]
    before = feed(engine, ANN.id, ann)
    before.extend(feed(engine, PHONE.id, phone))
    before.extend(engine.flush())
    goals = {c.conversion_id for c in before.credits}
    assert len(goals) == 2, goals  # each reached consideration on its own
    merged = merge(engine, PHONE, ANN)
    alone = partition(config)
    reference = feed(alone, ANN.id, sorted([*ann, *phone], key=lambda t: t.event_time))
    reference.extend(alone.flush())
    expected = _latest_credits(reference.credits)
    latest = _latest_credits([*before.credits, *merged.credits])
    kept = {key[0] for key in expected}
    assert {key: value for key, value in latest.items() if key[0] in kept} == expected
    rest = {key: value for key, value in latest.items() if key[0] not in kept}
    assert {key[0] for key in rest} == goals - kept  # the later one's, withdrawn
    assert all(value == (0, 0) for value in rest.values())
