"""The seed journey through the pure engine gives what a marketer would draw."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import run
from tests.seed_journey import (
    CUSTOMER,
    EXPECTED_FIRST_REACHED,
    EXPECTED_SESSIONS,
    EXPECTED_TRANSITIONS,
    seed_journey,
)

pytestmark = pytest.mark.unit


def test_seed_journey_stages_sessions_and_transitions() -> None:
    events = seed_journey()
    for tp in events:  # the factory keys customers by user id
        assert tp.identities.user_id == "u-1042"
    out, engine = run(events)
    transitions = [
        (t.kind, t.from_stage, t.to_stage, t.event_id, t.event_time) for t in out.transitions
    ]
    assert transitions == EXPECTED_TRANSITIONS
    final = {}
    for record in out.sessions:
        final[record.session_id] = record
    sessions = [
        (s.entry_event_id, s.exit_event_id, s.touchpoints, s.stage_at_start, s.stage_at_end,
         s.converted, s.passed, s.dropped_off_at)
        for s in sorted(final.values(), key=lambda s: s.started_at)
    ]  # fmt: skip
    assert sessions == EXPECTED_SESSIONS
    state = engine.store.get("u-1042")
    assert state is not None
    assert state.first_reached == EXPECTED_FIRST_REACHED
    assert (state.stage, state.purchases, state.revenue) == ("advocacy", 2, Decimal("174.00"))
    assert CUSTOMER == "user:u-1042"


def test_identified_seed_journey_resolves_to_one_customer_when_links_settle() -> None:
    from pipeline.journeys.resolution import DictIdentities, Resolver
    from tests.seed_journey import IDENTIFIED_CUSTOMER, seed_journey_identified

    resolver, queue = Resolver(DictIdentities()), []
    customers = set()
    for tp in seed_journey_identified():
        out = resolver.on_touchpoint(tp)
        customers.add(out.customer_id)
        queue.extend(out.messages)
        while queue:  # links settle before the next touchpoint, as days pass in between
            step = resolver.on_message(queue.pop(0))
            assert not step.merges
            queue.extend(step.messages)
    assert customers == {IDENTIFIED_CUSTOMER}
