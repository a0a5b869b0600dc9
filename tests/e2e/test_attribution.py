"""Two weeks of generated traffic in which one way in earns every order: only customers
who first came by organic search buy, and they come back the same way. Through the real
pipeline, as one backlog: every purchase is credited, each model's column adds up to the
purchases, and every model, the six heuristics and the Markov chain, ranks search first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.generator.output import KafkaOutput, send
from pipeline.generator.traffic import Traffic, TrafficConfig
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, wait_until

pytestmark = pytest.mark.e2e

START = datetime(2026, 3, 2, tzinfo=UTC)
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
ENV = {
    "JOURNEYS_WINDOWS_SIZES": "[86400]",
    # The end of the backlog closes by the wall clock: after 10 quiet seconds, a day of
    # event time per second (a purchase the clock makes late is still credited).
    "JOURNEYS_SESSIONS_IDLE_AFTER": "10",
    "JOURNEYS_SESSIONS_IDLE_RATE": "86400",
    "JOURNEYS_ATTRIBUTION_MARKOV_EVERY": "2",
}


def test_the_channel_that_earns_the_orders_comes_first_in_every_model(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    config = TrafficConfig(
        start=START,
        end=START + timedelta(days=14),
        seed=5,
        customers_per_day=60,
        very_late=0,
        driver="google_organic",
    )
    worker = worker_factory(**ENV)
    with KafkaOutput(kafka_bootstrap, TopicNames(f"t{unique}.")) as output:
        send(Traffic(config).events(), output)

    def every_purchase_credited() -> int | None:
        [row] = worker.query(
            "SELECT (SELECT uniqExact(conversion_id) FROM attribution_credits) AS credited, "
            "(SELECT count() FROM touchpoints FINAL WHERE NOT is_bot "
            " AND action IN ('order_placed', 'store_purchase')) AS purchases"
        )
        credited = int(row["credited"])
        return credited if credited == int(row["purchases"]) and credited > 20 else None

    credited = wait_until(every_purchase_credited, 300, "every purchase credited", interval=2)
    by_channel = {
        row["channel"]: row for row in worker.query("SELECT * FROM attribution_comparison")
    }
    for model in MODELS:
        column = {channel: float(row[model]) for channel, row in by_channel.items()}
        assert sum(column.values()) == pytest.approx(credited), model
        assert max(column, key=column.__getitem__) == "search", (model, column)
    for row in worker.query(
        "SELECT model, sum(conversions) AS n FROM attribution_between("
        "since = '2026-03-01', until = '2026-04-01') GROUP BY model"
    ):
        assert float(row["n"]) == pytest.approx(credited), row

    def markov_of_the_last_day() -> list[dict[str, object]] | None:
        made = worker.query(
            "SELECT channel, conversions FROM markov_attribution FINAL "
            "WHERE day = '2026-03-15' ORDER BY conversions DESC"
        )
        return made or None

    markov = wait_until(markov_of_the_last_day, 120, "the Markov attribution of the last day")
    assert markov[0]["channel"] == "search", markov
