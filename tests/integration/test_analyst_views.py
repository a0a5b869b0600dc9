"""Every analyst view on a small fixture of journeys, against answers worked out by hand.

Three customers: Ann walks the seed journey (tests/seed_journey.py); Bob clicks a spring
ad, looks at a product, rates the chatbot badly, fills his cart and leaves; Cem sees the
spring ad, and two days later looks at the site without doing anything more.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date, datetime, timedelta

import msgspec
import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.migrations import migrate, publish_stage_model
from pipeline.journeys.engine import EngineConfig, Outputs, advance, new_customer, receive
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from tests.factories import five_stage_model, run, touchpoint
from tests.seed_journey import at, seed_journey

pytestmark = pytest.mark.integration


def fixture_outputs() -> Outputs:
    bob = [
        touchpoint("ad_impression", at(3, 2, 10, 0), user="bob", campaign="spring"),
        touchpoint("ad_click", at(3, 2, 10, 1), user="bob", campaign="spring"),
        touchpoint("product_view", at(3, 2, 10, 3), user="bob"),
        touchpoint("chat_rated", at(3, 2, 10, 4), user="bob", score=2, sentiment=-0.5),
        touchpoint("add_to_cart", at(3, 2, 10, 5), user="bob"),
    ]
    cem = [
        touchpoint("ad_impression", at(3, 3, 9, 0), user="cem", campaign="spring"),
        touchpoint("page_view", at(3, 5, 9, 0), user="cem"),
    ]
    ann = seed_journey()
    review = msgspec.structs.replace(ann[-1], score=5.0, sentiment=1.0)
    ann[-1] = review
    out, _ = run(sorted(ann + bob + cem, key=lambda t: t.event_time))
    return out


def store(client: Client, out: Outputs, source: str = "fixture") -> None:
    migrate(client, retention_days=3650)
    model = five_stage_model()
    publish_stage_model(client, model.name, model.stages)
    lock = threading.Lock()
    tables = [
        ("touchpoints", rows.TOUCHPOINT_COLUMNS, [rows.touchpoint_row(t) for t in out.touchpoints]),
        ("sessions", rows.SESSION_COLUMNS, [rows.session_row(s) for s in out.sessions]),
        (
            "stage_transitions",
            rows.TRANSITION_COLUMNS,
            [rows.transition_row(t) for t in out.transitions],
        ),
        ("journeys", rows.JOURNEY_COLUMNS, [rows.journey_row(j) for j in out.journeys]),
    ]
    for table, columns, values in tables:
        writer = TableWriter(client, table, columns, lock)
        sourced = [SourcedRow(f"{source}.{table}", 0, i, row) for i, row in enumerate(values)]
        asyncio.run(writer.write(sourced))


@pytest.fixture
def views(clickhouse: Client) -> Client:
    store(clickhouse, fixture_outputs())
    return clickhouse


def query(client: Client, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.query(sql).result_rows]


def hours(start: datetime, end: datetime) -> float:
    return round((end - start) / timedelta(hours=1), 2)


def test_funnel_by_stage(views: Client) -> None:
    assert query(
        views, "SELECT rank, stage, customers, conversion_from_previous FROM funnel_by_stage"
    ) == [
        (0, "awareness", 3, None),
        (1, "consideration", 2, 0.6667),
        (2, "decision", 2, 1.0),
        (3, "retention", 1, 0.5),
        (4, "advocacy", 1, 1.0),
    ]


def test_funnel_by_dimension(views: Client) -> None:
    got = set(query(views, "SELECT dimension, value, stage, customers FROM funnel_by_dimension"))
    assert {
        ("all", "all", "awareness", 3),
        ("all", "all", "decision", 2),
        ("channel", "ads", "awareness", 3),
        ("channel", "web", "consideration", 2),
        ("channel", "web", "decision", 2),
        ("channel", "loyalty", "retention", 1),
        ("channel", "feedback", "advocacy", 1),
        ("campaign", "spring", "awareness", 2),
        ("campaign", "(none)", "awareness", 1),
        ("segment", "(none)", "awareness", 3),
    } <= got
    assert len({row for row in got if row[0] == "all"}) == 5


def test_dropoff_by_stage(views: Client) -> None:
    # awareness: dropped by Ann's first visit and both of Cem's, passed by Ann's search
    # session and Bob's; consideration: dropped by Ann's popup and coupon sessions, passed
    # by her purchase session and by Bob; decision: Bob's cart dropped, Ann bought;
    # retention: Ann's purchase, store and review sessions all passed it.
    assert query(
        views, "SELECT stage, sessions, dropped_off, dropoff_rate FROM dropoff_by_stage"
    ) == [
        ("awareness", 5, 3, 0.6),
        ("consideration", 4, 2, 0.5),
        ("decision", 2, 1, 0.5),
        ("retention", 3, 0, 0.0),
        ("advocacy", 0, 0, None),
    ]


def test_time_to_convert(views: Client) -> None:
    got = {
        (row[0], row[1]): row[2:]
        for row in query(
            views,
            "SELECT from_stage, to_stage, customers, avg_hours, median_hours, p90_hours "
            "FROM time_to_convert",
        )
    }
    ann = (at(3, 8, 19, 31) - at(3, 1, 12, 0)).total_seconds()
    bob = (at(3, 2, 10, 3) - at(3, 2, 10, 0)).total_seconds()
    # Two customers: the average; quantileExact picks an element (the higher of two).
    assert got[("awareness", "consideration")] == (
        2,
        round((ann + bob) / 2 / 3600, 2),
        round(ann / 3600, 2),
        round(ann / 3600, 2),
    )
    twenty_minutes = round(20 / 60, 2)
    assert got[("decision", "retention")] == (1, twenty_minutes, twenty_minutes, twenty_minutes)
    assert got[("retention", "advocacy")][:2] == (1, hours(at(3, 15, 19, 10), at(4, 10, 20, 0)))
    assert set(got) == {
        ("awareness", "consideration"),
        ("consideration", "decision"),
        ("decision", "retention"),
        ("retention", "advocacy"),
    }
    assert got[("consideration", "decision")][0] == 2


def test_top_paths(views: Client) -> None:
    ann = (
        "ads > web > search > web > chat > popup > email > video > web > commerce > email > loyalty"
    )
    assert query(views, "SELECT path, customers FROM top_paths") == [
        ("ads > web", 1),  # Cem
        ("ads > web > chat > web", 1),  # Bob
        (ann, 1),  # the first twelve steps of Ann's fourteen
    ]


def test_click_through(views: Client) -> None:
    assert set(
        query(
            views,
            "SELECT channel, campaign, impressions, clicks, click_through_rate FROM click_through",
        )
    ) == {
        ("ads", "spring", 2, 1, 0.5),
        ("ads", "(none)", 1, 1, 1.0),
        ("email", "(none)", 2, 1, 0.5),
        ("popup", "(none)", 1, 1, 1.0),
    }


def test_satisfaction_by_stage(views: Client) -> None:
    assert set(
        query(
            views,
            "SELECT stage, action, responses, avg_score, avg_sentiment FROM satisfaction_by_stage",
        )
    ) == {
        ("decision", "chat_rated", 1, 2.0, -0.5),
        ("advocacy", "review_posted", 1, 5.0, 1.0),
    }


def test_cart_abandonment(views: Client) -> None:
    assert query(
        views, "SELECT day, cart_sessions, abandoned, abandonment_rate FROM cart_abandonment"
    ) == [
        (date(2026, 3, 2), 1, 1, 1.0),
        (date(2026, 3, 15), 1, 0, 0.0),
    ]


def test_customer_timeline(views: Client) -> None:
    timeline = query(
        views, "SELECT sequence, channel, action, stage FROM customer_timeline(customer = 'bob')"
    )
    assert timeline == [
        (1, "ads", "ad_impression", "awareness"),
        (2, "ads", "ad_click", "awareness"),
        (3, "web", "product_view", "consideration"),
        (4, "chat", "chat_rated", "consideration"),
        (5, "web", "add_to_cart", "decision"),
    ]


def test_sessions_show_provisional_sessions_until_released_and_never_withdrawn_ones(
    clickhouse: Client,
) -> None:
    """Live traffic: a later touchpoint arrives first and opens a provisional session, the
    earlier one opens the real one. Before the release v_sessions shows both provisional
    sessions; after it, the real one (its opened row replaces the provisional one) and
    not the withdrawn one, which stays in the table's history."""
    config = EngineConfig(stage_model=five_stage_model(), provisional=True)
    state = new_customer("user:dee", 0)
    later = touchpoint("add_to_cart", at(3, 9, 10, 2), user="dee", event_id="dee-later")
    earlier = touchpoint("product_view", at(3, 9, 10, 0), user="dee", event_id="dee-earlier")
    watermark = later.event_time - config.allowed_lateness
    arrived = receive(state, later, watermark, config)
    arrived.extend(receive(state, earlier, watermark, config))
    store(clickhouse, arrived)
    sql = "SELECT entry_event_id, status, touchpoints FROM v_sessions ORDER BY started_at"
    assert query(clickhouse, sql) == [
        ("dee-earlier", "provisional", 1),
        ("dee-later", "provisional", 1),
    ]
    store(clickhouse, advance(state, later.event_time, config), source="released")
    assert query(clickhouse, sql) == [("dee-earlier", "opened", 1)]
    withdrawn = "SELECT entry_event_id FROM sessions FINAL WHERE status = 'withdrawn'"
    assert query(clickhouse, withdrawn) == [("dee-later",)]
