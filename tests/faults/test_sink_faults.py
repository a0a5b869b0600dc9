"""The flush under failure: a worker killed mid-write, and ClickHouse refusing writes for
30 seconds, then letting them hang and time out for 30 more. Afterwards analysts see
every input event exactly once, and memory stayed bounded; while ClickHouse failed, the
worker said so (/readyz: why, its lag, its failed writes) and stayed alive (/healthz)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import (
    FAULT_SETTINGS,
    WorkerProcess,
    health,
    page_views,
    produce,
    stored,
    wait_until,
)

pytestmark = pytest.mark.fault


def test_a_worker_killed_mid_write_stores_each_event_exactly_once(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    topic = f"t{unique}.touchpoints.raw.web"
    total = 4000
    first = worker_factory(**FAULT_SETTINGS)
    produce(kafka_bootstrap, topic, page_views(0, total))
    wait_until(lambda: stored(first)["ids"] >= 500, 120, "some batches written")
    first.kill()  # SIGKILL: no shutdown, no commit, maybe half a batch in flight
    second = worker_factory(**FAULT_SETTINGS)
    wait_until(lambda: stored(second)["ids"] >= total, 180, "every event stored")
    time.sleep(3)  # anything still in flight would land now
    counts = stored(second)
    print(f"after the kill: {counts}")
    assert counts["ids"] == total
    assert counts["visible"] == total, "analysts see each event once"
    # Inputs processed again after the kill may store a row twice: the table's key and
    # version collapse it (at-least-once, idempotent by key, never by offset order).
    assert counts["rows"] >= total


def test_clickhouse_refusing_then_timing_out_for_60_s_loses_nothing_doubles_nothing(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    flag = tmp_path / "clickhouse-down"
    topic = f"t{unique}.touchpoints.raw.web"
    worker = worker_factory(
        ["-m", "tests.faulty_worker"],
        JOURNEYS_TEST_CLICKHOUSE_DOWN=str(flag),
        JOURNEYS_WORKER_READY_FLUSH_AGE="5",
        **FAULT_SETTINGS,
    )
    produce(kafka_bootstrap, topic, page_views(0, 1000))
    wait_until(lambda: stored(worker)["ids"] >= 1000, 120, "the first events stored")
    wait_until(lambda: health(worker, "/readyz")[0] == 200, 60, "the worker ready")
    process = psutil.Process(worker.pid)
    before = process.memory_info().rss
    flag.write_text("refuse")  # ClickHouse refuses every write from now on, ...
    sent, peak = 1000, before
    unready: list[dict[str, Any]] = []
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < 60:
        if elapsed >= 30:
            flag.write_text("timeout")  # ... and then lets each one hang, then time out
        produce(kafka_bootstrap, topic, page_views(sent, 100))
        sent += 100
        peak = max(peak, process.memory_info().rss)
        assert health(worker, "/healthz")[0] == 200, "alive while ClickHouse is down"
        status, answer = health(worker, "/readyz")
        if status == 503:
            unready.append(answer)
        time.sleep(0.5)
    assert worker.process is not None and worker.process.poll() is None, "the worker survived"
    assert unready, "/readyz failed while ClickHouse refused writes"
    assert "last flush" in " ".join(unready[-1]["reasons"])
    assert unready[-1]["write_failures"] > 0, unready[-1]
    failures = {answer["last_write_failure"] for answer in unready}
    assert any("unreachable" in str(f) for f in failures), failures
    assert any("timed out" in str(f) for f in failures), failures
    assert unready[-1]["lag"] > 0, "what waits in Kafka shows as lag"
    flag.unlink()  # ClickHouse is back
    wait_until(lambda: stored(worker)["ids"] >= sent, 240, f"all {sent} events stored")
    wait_until(lambda: health(worker, "/readyz")[0] == 200, 60, "the worker ready again")
    time.sleep(3)
    counts = stored(worker)
    growth_mb = (peak - before) / 2**20
    print(f"{sent} events, {growth_mb:.0f} MB RSS growth while ClickHouse failed: {counts}")
    assert counts == {"rows": sent, "ids": sent, "visible": sent}
    # Bounded: while a flush cannot write, the pipeline stops taking records, and the backlog
    # waits in Kafka, not in the worker.
    assert growth_mb < 150, f"RSS grew {growth_mb:.0f} MB"
