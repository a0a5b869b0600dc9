"""The seed journey through the real pipeline (real broker, worker process, ClickHouse):
in order, reordered within the lateness, and with a worker restart in the middle, the
stored sessions, stages and transitions are what a marketer would draw."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest

from schemas.touchpoint import Touchpoint
from tests.seed_journey import (
    CUSTOMER,
    EXPECTED_FIRST_REACHED,
    EXPECTED_SESSIONS,
    EXPECTED_TRANSITIONS,
    seed_journey,
)
from tests.support import WorkerProcess, send_touchpoints, wait_until

pytestmark = pytest.mark.e2e

#: Close sessions promptly once the data stops: an idle second is a day of event time.
FAST_IDLE = {"JOURNEYS_SESSIONS_IDLE_AFTER": "1", "JOURNEYS_SESSIONS_IDLE_RATE": "86400"}


def send(kafka: str, unique: str, touchpoints: list[Touchpoint]) -> None:
    send_touchpoints(kafka, f"t{unique}.", touchpoints, key=CUSTOMER.encode())


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def stored_result(worker: WorkerProcess, customer: str = CUSTOMER) -> dict[str, object]:
    where = f"customer_id = '{customer}'"
    transitions = worker.query(
        "SELECT kind, from_stage, to_stage, event_id, event_time FROM stage_transitions FINAL "
        f"WHERE {where} ORDER BY event_time, kind"
    )
    sessions = worker.query(  # as v_sessions shows them: withdrawn provisional ones left out
        "SELECT entry_event_id, exit_event_id, touchpoints, stage_at_start, stage_at_end, "
        f"converted, passed, dropped_off_at FROM sessions FINAL WHERE {where} "
        "AND status != 'withdrawn' ORDER BY started_at"
    )
    journey = worker.query(
        "SELECT stage, purchases, revenue, sessions, touchpoints, first_reached "
        f"FROM journeys FINAL WHERE {where}"
    )
    touchpoints = worker.query(
        "SELECT count() AS n, uniqExact(event_id) AS ids, groupArraySorted(100)(sequence) AS seq,"
        f" countIf(session_id IS NULL) AS unsessioned FROM touchpoints FINAL WHERE {where}"
    )
    return {
        "transitions": [
            (t["kind"], t["from_stage"], t["to_stage"], t["event_id"], when(t["event_time"]))
            for t in transitions
        ],
        "sessions": [tuple(s.values()) for s in sessions],
        "journey": journey,
        "touchpoints": touchpoints[0],
    }


def expect_seed_result(worker: WorkerProcess, customer: str = CUSTOMER) -> None:
    """The stored tables hold the seed journey as a marketer draws it, under `customer`."""
    where = f"customer_id = '{customer}'"

    def complete() -> bool:
        # Each table has its own sink: wait until every one has caught up.
        counts = worker.query(
            "SELECT"
            f" (SELECT countIf(status = 'closed') FROM sessions FINAL WHERE {where}) AS closed,"
            f" (SELECT count() FROM touchpoints FINAL WHERE {where}) AS touchpoints,"
            f" (SELECT count() FROM stage_transitions FINAL WHERE {where}) AS transitions,"
            f" (SELECT max(sessions) FROM journeys FINAL WHERE {where}) AS journey_sessions"
        )[0]
        return counts == {
            "closed": len(EXPECTED_SESSIONS),
            "touchpoints": 24,
            "transitions": len(EXPECTED_TRANSITIONS),
            "journey_sessions": len(EXPECTED_SESSIONS),
        }

    wait_until(complete, 120, "every table caught up with the seed journey")
    result = stored_result(worker, customer)
    assert result["transitions"] == EXPECTED_TRANSITIONS
    assert result["sessions"] == EXPECTED_SESSIONS
    journey = result["journey"][0]  # type: ignore[index]
    assert journey["stage"] == "advocacy"
    assert (journey["purchases"], Decimal(journey["revenue"])) == (2, Decimal("174"))
    assert journey["touchpoints"] == 24
    assert {k: when(v) for k, v in journey["first_reached"].items()} == EXPECTED_FIRST_REACHED
    assert result["touchpoints"] == {
        "n": 24,
        "ids": 24,
        "seq": list(range(1, 25)),
        "unsessioned": 0,
    }


def test_seed_journey_in_order(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**FAST_IDLE)
    send(kafka_bootstrap, unique, seed_journey())
    expect_seed_result(worker)
    # Hourly conversion counts: five stages entered; drop-offs at awareness (the landing
    # page) and consideration (the popup and coupon sessions); passed: awareness once,
    # then consideration, decision and retention in the purchase session, and retention
    # twice more (the store purchase and the review).
    totals = (
        "SELECT stage, sum(entered) AS e, sum(passed) AS p, sum(dropped_off) AS d "
        "FROM conversion_counts WHERE dimension = 'all' "
        "AND stage IN (SELECT stage FROM stage_model) GROUP BY stage ORDER BY stage"
    )
    expected = [
        {"stage": "advocacy", "e": 1, "p": 0, "d": 0},
        {"stage": "awareness", "e": 1, "p": 1, "d": 1},
        {"stage": "consideration", "e": 1, "p": 1, "d": 2},
        {"stage": "decision", "e": 1, "p": 1, "d": 0},
        {"stage": "retention", "e": 1, "p": 3, "d": 0},
    ]
    wait_until(lambda: worker.query(totals) == expected, 60, "the hourly conversion counts")
    # The session funnel: two sessions viewed a product; neither added to cart (the
    # purchase session went from the product to checkout), so both stopped there.
    assert worker.query(
        "SELECT step, sum(reached) AS r, sum(passed) AS p, sum(dropped_off) AS d "
        "FROM funnel_counts WHERE dimension = 'all' GROUP BY step"
    ) == [{"step": "viewed_product", "r": 2, "p": 0, "d": 2}]
    landing = worker.query(
        "SELECT entered, dropped_off FROM conversion_counts WHERE dimension = 'all' "
        "AND stage = 'awareness' AND window_start = '2026-03-01 12:00:00'"
    )
    assert landing == [{"entered": 1, "dropped_off": 1}]


def test_seed_journey_reordered_within_the_lateness(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    events = seed_journey()
    rng = random.Random(11)
    for i in range(len(events) - 1):
        close = (events[i + 1].event_time - events[i].event_time).total_seconds() < 240
        if close and rng.random() < 0.6:
            events[i], events[i + 1] = events[i + 1], events[i]
    assert events != seed_journey()
    worker = worker_factory(**FAST_IDLE)
    send(kafka_bootstrap, unique, events)
    expect_seed_result(worker)


def test_seed_journey_with_a_worker_restart_in_the_middle(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    events = seed_journey()
    slow = {"JOURNEYS_SESSIONS_IDLE_AFTER": "3600"}  # nothing closes by the wall clock yet
    first = worker_factory(**slow)
    send(kafka_bootstrap, unique, events[:12])
    wait_until(
        lambda: (
            first.query(
                f"SELECT count() AS n FROM touchpoints FINAL WHERE customer_id = '{CUSTOMER}'"
            )[0]["n"]
            >= 10
        ),
        60,
        "the first touchpoints stored",
    )
    assert first.stop() == 0, first.log_tail()
    second = worker_factory(**FAST_IDLE)  # same group, same tables: picks up the state
    send(kafka_bootstrap, unique, events[12:])
    expect_seed_result(second)
