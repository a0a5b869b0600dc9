"""GET /metrics during a real run: every metric of docs/operations.md is served, and its
values agree with what the run did. ClickHouse refuses writes for a while (a flag file,
tests/faulty_worker.py), so that the backlog stays visible as lag and failed inserts are
counted; once it answers again, the lag falls to 0 and the counters add up to the input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.bench.traffic import BENCH_START, bench_events, produce_all, records_per_topic
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, metrics, wait_until

pytestmark = pytest.mark.e2e

EVENTS = 2000
#: The sessions of the backlog's last half hour (of event time) stay open: the watermark
#: trails its latest event by the allowed lateness, and moves on with the wall clock.
OPEN_SESSIONS = "SELECT count() AS n FROM v_sessions WHERE status IN ('opened', 'updated')"
FAMILIES = {
    "journeys_records_in",
    "journeys_touchpoints",
    "journeys_dead_letters",
    "journeys_rows_inserted",
    "journeys_insert_errors",
    "journeys_flush_seconds",
    "journeys_alerts",
    "journeys_webhook_deliveries",
    "journeys_consumer_lag",
    "journeys_watermark_seconds",
    "journeys_watermark_delay_seconds",
    "journeys_sessions_open",
    "journeys_state_records",
    "journeys_state_bytes",
}

Samples = dict[tuple[tuple[str, str], ...], float]


def total(samples: Samples, **labels: str) -> float:
    """The sum of the samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for key, value in samples.items() if wanted <= set(key))


def raw_lag(scraped: dict[str, Samples]) -> float:
    return sum(
        value
        for key, value in scraped["journeys_consumer_lag"].items()
        if ".touchpoints.raw." in dict(key)["topic"]
    )


def test_metrics_follow_a_run_through_refused_writes_to_caught_up(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    flag = tmp_path / "clickhouse-down"
    worker = worker_factory(["-m", "tests.faulty_worker"], JOURNEYS_TEST_CLICKHOUSE_DOWN=str(flag))
    assert metrics(worker).keys() >= FAMILIES

    flag.touch()  # every write fails from now on, as if ClickHouse were unreachable
    names = TopicNames(f"t{unique}.")
    produce_all(kafka_bootstrap, names, bench_events(EVENTS, seed=3), partitions=4)
    per_topic = records_per_topic(kafka_bootstrap, (f"t{unique}.touchpoints.raw.",))
    sent = sum(per_topic.values())
    assert sent == EVENTS

    # Every record fetched and processed, none durable: the whole input is lag, and the
    # flush that would store it fails.
    def all_lag() -> dict[str, Samples] | None:
        scraped = metrics(worker)
        failing = total(scraped["journeys_insert_errors"]) > 0
        return scraped if raw_lag(scraped) == sent and failing else None

    stuck = wait_until(all_lag, 180, "the whole backlog as lag while ClickHouse refuses writes")
    assert total(stuck["journeys_records_in"]) == 0
    assert total(stuck["journeys_touchpoints"]) == 0

    flag.unlink()  # ClickHouse is back

    def caught_up() -> dict[str, Samples] | None:
        scraped = metrics(worker)
        done = total(scraped["journeys_records_in"]) == sent and raw_lag(scraped) == 0
        return scraped if done else None

    scraped = wait_until(caught_up, 300, "every record read and durable")
    # Lag of every partition the worker reads: 0 on the raw topics once caught up (the
    # internal topic carries the partitions' envelopes, every flush or so).
    lags = {
        (dict(key)["topic"], dict(key)["partition"]) for key in scraped["journeys_consumer_lag"]
    }
    assert {(f"t{unique}.journeys.internal", str(p)) for p in range(4)} <= lags
    assert {(topic, str(p)) for topic in per_topic for p in range(4)} <= lags
    for topic, records in per_topic.items():
        assert total(scraped["journeys_records_in"], topic=topic) == records
    # Each raw record became a touchpoint or a dead letter.
    touchpoints = total(scraped["journeys_touchpoints"])
    letters = total(scraped["journeys_dead_letters"])
    assert touchpoints > 0 and letters > 0
    assert touchpoints + letters == sent
    stored = worker.query("SELECT uniqExact(event_id) AS ids, count() AS rows FROM touchpoints")[0]
    assert stored["ids"] <= touchpoints  # a duplicate event id is one touchpoint row
    assert total(scraped["journeys_rows_inserted"], table="touchpoints") >= stored["rows"] > 0
    counted = {
        dict(key)["reason"]: value
        for key, value in scraped["journeys_dead_letters"].items()
        if value
    }

    def letters_by_reason() -> dict[str, int] | None:
        rows = worker.query(
            "SELECT error_type, uniqExact(source_topic, source_partition, source_offset) AS n"
            " FROM dead_letters GROUP BY error_type"
        )
        found = {row["error_type"]: int(row["n"]) for row in rows}
        return found if sum(found.values()) >= letters else None

    assert wait_until(letters_by_reason, 120, "every dead letter stored") == counted
    assert total(scraped["journeys_flush_seconds"], sample="_count") > 0
    assert total(scraped["journeys_flush_seconds"], sample="_sum") > 0

    # A watermark for every partition (once its sources and peers let it move), past the
    # backlog's first events.
    def watermarks() -> dict[str, Samples] | None:
        scraped = metrics(worker)
        return scraped if len(scraped["journeys_watermark_seconds"]) == 4 else None

    scraped = wait_until(watermarks, 180, "a watermark on every partition")
    marks = scraped["journeys_watermark_seconds"]
    assert {dict(key)["partition"] for key in marks} == {"0", "1", "2", "3"}
    floor = (BENCH_START - timedelta(minutes=5)).timestamp()
    assert all(mark >= floor for mark in marks.values())
    assert scraped["journeys_watermark_delay_seconds"].keys() == marks.keys()

    # Sessions open: as many as ClickHouse has opened and not closed (at a flush's end).
    def open_sessions() -> float | None:
        counted = total(metrics(worker)["journeys_sessions_open"])
        stored = worker.query(OPEN_SESSIONS)[0]["n"]
        return counted if counted == stored else None

    assert wait_until(open_sessions, 60, "sessions open as ClickHouse has them") > 0
    records, size = (
        total(scraped[name]) for name in ("journeys_state_records", "journeys_state_bytes")
    )
    assert 0 < records < size
