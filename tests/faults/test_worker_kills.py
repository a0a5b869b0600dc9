"""A worker killed three times (SIGKILL) while it works through a backlog of generated
traffic, and restarted each time, stores what an uninterrupted run of the same backlog
stores: every touchpoint once and every dead letter.

Sessions, journeys and the customer each touchpoint ends up with are not compared: which
of the 14 raw topics a worker reads first decides what counts as late and which customer
is born first, so two runs of one backlog can differ there, and rows a crashed flush
wrote before its state was durable can stay beside the replay's (a known gap)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.bench.traffic import bench_events, produce_all
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, processed, wait_until

pytestmark = pytest.mark.e2e

EVENTS = 3000
#: Idle partitions close their sessions quickly once the backlog is done; a killed
#: worker's partitions move to its successor after a short group session.
SETTINGS = {
    "JOURNEYS_SESSIONS_IDLE_AFTER": "3",
    "JOURNEYS_SESSIONS_IDLE_RATE": "86400",
    "KAFKA_SESSION_TIMEOUT": "6",
}

TOUCHPOINTS = "SELECT event_id FROM v_touchpoints"
DEAD_LETTERS = "SELECT DISTINCT source_topic, source_partition, source_offset FROM dead_letters"


def stored(worker: WorkerProcess) -> dict[str, Any]:
    return {
        "touchpoints": {r["event_id"] for r in worker.query(TOUCHPOINTS)},
        "dead_letters": len(worker.query(DEAD_LETTERS)),
    }


def test_three_kills_during_a_backlog_store_what_an_uninterrupted_run_stores(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    events = bench_events(EVENTS, seed=7)
    calm_prefix, crash_prefix = f"t{unique}.", f"t{unique}k."
    for prefix in (calm_prefix, crash_prefix):
        produce_all(kafka_bootstrap, TopicNames(prefix), events, partitions=4)

    calm = worker_factory(**SETTINGS)
    wait_until(lambda: processed(calm) >= EVENTS, 300, "the uninterrupted run")
    expected = stored(calm)
    assert calm.stop() == 0

    crash_env = {
        **SETTINGS,
        "KAFKA_TOPIC_PREFIX": crash_prefix,
        "KAFKA_CONSUMER_GROUP": f"journeys-t{unique}k",
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'crash-clickhouse'}?database=journeys",
    }
    worker = worker_factory(**crash_env)
    for share in (0.2, 0.45, 0.7):
        wait_until(
            lambda s=share, w=worker: (
                w.query("SELECT count() AS n FROM touchpoints")[0]["n"] >= s * EVENTS
            ),
            300,
            f"{share:.0%} of the backlog stored",
        )
        worker.kill()
        worker = worker_factory(**crash_env)
    wait_until(lambda: processed(worker) >= EVENTS, 300, "the run with three crashes")
    got = stored(worker)
    assert len(expected["touchpoints"]) + expected["dead_letters"] == EVENTS
    assert got["touchpoints"] == expected["touchpoints"]
    assert got["dead_letters"] == expected["dead_letters"]
