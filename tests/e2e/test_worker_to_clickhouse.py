"""The first end-to-end path: a real worker process reads Kafka and writes ClickHouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.deadletters import dead_letter
from tests.support import WorkerProcess, produce, wait_until

pytestmark = pytest.mark.e2e


def test_dead_letters_flow_from_kafka_into_clickhouse_exactly(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory()
    failed_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    letters = [
        dead_letter(
            ValueError(f"field 'ts' is not a time: record {i}"),
            source_topic=f"t{unique}.touchpoints.raw.web",
            source_partition=i % 3,
            source_offset=1000 + i,
            key=f"cookie-{i}".encode(),
            value=b'{"event": "page_view", "ts": "yesterday"}',
            replay_count=i % 2,
            now=failed_at + timedelta(seconds=i),
        )
        for i in range(40)
    ]
    sent = produce(
        kafka_bootstrap,
        f"t{unique}.touchpoints.dead-letter",
        ((letter.raw_key, letter.raw_value, letter.headers()) for letter in letters),
    )
    assert sent == 40

    def stored() -> int:
        return int(worker.query("SELECT count() AS n FROM dead_letters")[0]["n"])

    wait_until(lambda: stored() >= 40, 60, "40 dead letters in ClickHouse")
    rows = worker.query(
        "SELECT source_topic, source_partition, source_offset, error_type, error_message, "
        "replay_count, raw_key, raw_value, failed_at FROM dead_letters ORDER BY source_offset"
    )
    expected = [
        {
            "source_topic": letter.source_topic,
            "source_partition": letter.source_partition,
            "source_offset": letter.source_offset,
            "error_type": "ValueError",
            "error_message": letter.error_message,
            "replay_count": letter.replay_count,
            "raw_key": letter.raw_key.decode(),
            "raw_value": letter.raw_value.decode(),
            "failed_at": letter.failed_at,
        }
        for letter in letters
    ]
    for row in rows:
        row["failed_at"] = datetime.fromisoformat(row["failed_at"])
    assert rows == expected
    assert worker.stop() == 0, worker.log_tail()
    # A normal start and stop logs no error (aiokafka's retried coordinator lookups of a
    # new group are INFO lines).
    log = worker.log_path.read_text()
    assert [line for line in log.splitlines() if "ERROR" in line or "CRITICAL" in line] == []
    assert "Group Coordinator Request failed" not in log or "(retrying)" in log
