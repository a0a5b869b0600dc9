"""Attribution credits in ClickHouse: every model's credits of the generated purchases
add up, in the views, to the purchases that had a path and to their revenue; a touch that
left a path between two versions keeps no credit there."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.attribution.heuristics import Model
from pipeline.clickhouse.migrations import migrate
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from schemas.outputs import AttributionCredit
from tests.factories import engine_config, run, touchpoint
from tests.integration.test_counts_consistency import generated, run_partitions

pytestmark = pytest.mark.integration


def store_credits(clickhouse: Client, credits: list[AttributionCredit]) -> None:
    """The engine's credits into a migrated store, as the worker writes them."""
    migrate(clickhouse, retention_days=3650)
    made = [
        SourcedRow("gen.credits", 0, offset, rows.credit_row(c), 0)
        for offset, c in enumerate(credits)
    ]
    asyncio.run(
        TableWriter(clickhouse, rows.CREDITS, rows.CREDIT_COLUMNS, threading.Lock()).write(made)
    )


def test_every_models_credits_add_up_to_the_purchases_and_their_revenue(
    clickhouse: Client,
) -> None:
    out = run_partitions(generated())
    credited = {c.conversion_id: c for c in out.credits}
    assert len(credited) > 20, "purchases with a path"
    revenue = {c.conversion_id: Decimal(0) for c in out.credits}
    for c in out.credits:
        if c.model == Model.LINEAR:
            revenue[c.conversion_id] += c.revenue
    store_credits(clickhouse, out.credits)
    totals = clickhouse.query(
        "SELECT model, sum(conversions), sum(revenue) FROM attribution_between("
        "since = '2026-01-01', until = '2027-01-01') GROUP BY model ORDER BY model"
    ).result_rows
    assert {model for model, _, _ in totals} == {m.value for m in Model}
    for model, conversions, money in totals:
        assert conversions == len(credited), model
        assert money == sum(revenue.values()), model
    side_by_side = clickhouse.query(
        "SELECT sum(first_touch), sum(last_touch), sum(last_non_direct), sum(linear), "
        "sum(time_decay), sum(position_based) FROM attribution_comparison"
    ).result_rows[0]
    assert list(side_by_side) == [len(credited)] * len(Model)


def test_a_touch_that_left_a_path_keeps_no_credit_in_the_views(clickhouse: Client) -> None:
    # The engine keeps a customer's latest four touchpoints here: by the time a late visit
    # credits the order again, the ad and the email have left the path, so the new
    # version credits the late visit alone and has no row for them.
    day, minute = timedelta(days=1), timedelta(minutes=1)
    out, _ = run(
        [
            touchpoint("ad_click", 0 * day, campaign="spring", event_id="ad"),
            touchpoint("email_clicked", 2 * day, campaign="newsletter", event_id="mail"),
            touchpoint("order_placed", 2 * day + 10 * minute, revenue="30.00", event_id="order"),
            touchpoint("page_view", 3 * day, event_id="after-1"),
            touchpoint("page_view", 4 * day, event_id="after-2"),
            touchpoint("page_view", 5 * day, event_id="after-3"),
            touchpoint("ad_click", 1 * day, campaign="summer", event_id="late-ad"),
        ],
        engine_config(path_limit=4),
    )
    versions = sorted({c.version for c in out.credits})
    assert len(versions) == 2, "credited at the order, and again after the late visit"
    assert {c.touch_event_id for c in out.credits if c.version == versions[-1]} == {"late-ad"}
    store_credits(clickhouse, out.credits)
    every_version = clickhouse.query(
        "SELECT model, sum(conversions) FROM attribution_credits FINAL GROUP BY model"
    ).result_rows
    assert all(total > 1 for _, total in every_version), "older rows are still stored"
    totals = clickhouse.query(
        "SELECT model, campaign, sum(conversions), sum(revenue) FROM attribution_between("
        "since = '2026-01-01', until = '2027-01-01') GROUP BY model, campaign"
    ).result_rows
    assert sorted(totals) == [
        (m.value, "summer", Decimal(1), Decimal("30.00")) for m in sorted(Model, key=str)
    ]
    side_by_side = clickhouse.query("SELECT * FROM attribution_comparison").result_rows
    assert side_by_side == [("ads", 1, 1, 1, 1, 1, 1, Decimal("30.00"))]
