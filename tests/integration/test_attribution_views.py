"""Attribution credits in ClickHouse: every model's credits of the generated purchases
add up, in the views, to the purchases that had a path and to their revenue."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.attribution.heuristics import Model
from pipeline.clickhouse.migrations import migrate
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from tests.integration.test_counts_consistency import generated, run_partitions

pytestmark = pytest.mark.integration


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
    migrate(clickhouse, retention_days=3650)
    made = [
        SourcedRow("gen.credits", 0, offset, rows.credit_row(c), 0)
        for offset, c in enumerate(out.credits)
    ]
    asyncio.run(
        TableWriter(clickhouse, rows.CREDITS, rows.CREDIT_COLUMNS, threading.Lock()).write(made)
    )
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
