"""The broker stopped in the middle of a backlog and started again on the same data
directory: the worker rides it out by itself, and analysts then see every event once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.bench.traffic import bench_events, produce_all
from pipeline.localstack.kafka import LocalKafka
from pipeline.topics import TopicNames
from tests.support import REPO, WorkerProcess, health, processed, wait_until

pytestmark = pytest.mark.fault

EVENTS = 3000
SETTINGS = {
    "JOURNEYS_SESSIONS_IDLE_AFTER": "3",
    "JOURNEYS_SESSIONS_IDLE_RATE": "86400",
    "JOURNEYS_WORKER_READY_FLUSH_AGE": "3",
}
DUPLICATED = "SELECT count() - uniqExact(event_id) AS n FROM v_touchpoints"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own, to stop and start."""
    broker = LocalKafka(tmp_path / "kafka", REPO / ".cache").start()
    try:
        yield broker
    finally:
        broker.stop()


def test_a_broker_restart_mid_backlog_loses_nothing_and_doubles_nothing(
    own_broker: LocalKafka,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
) -> None:
    servers = own_broker.bootstrap_servers
    produce_all(servers, TopicNames(f"t{unique}."), bench_events(EVENTS, seed=11), partitions=4)
    worker = worker_factory(KAFKA_BOOTSTRAP_SERVERS=servers, **SETTINGS)
    wait_until(lambda: processed(worker) >= EVENTS * 0.3, 300, "a third of the backlog stored")
    own_broker.stop()
    stopped = time.monotonic()
    wait_until(lambda: not ready(worker), 120, "the worker to notice (readyz)")
    own_broker.start()  # same data directory, same ports
    wait_until(lambda: ready(worker), 300, "the worker ready again")
    recovered = time.monotonic() - stopped
    wait_until(lambda: processed(worker) >= EVENTS, 300, "the whole backlog stored")
    time.sleep(2)  # a doubled row, if any, would land now
    assert worker.process is not None and worker.process.poll() is None, "it recovered by itself"
    duplicated = worker.query(DUPLICATED)[0]["n"]
    print(f"\nbroker down and up mid-backlog: lost {EVENTS - processed(worker)}, "
          f"duplicated {duplicated}, ready again {recovered:.0f} s after the stop")  # fmt: skip
    assert processed(worker) == EVENTS
    assert duplicated == 0


def ready(worker: WorkerProcess) -> bool:
    return health(worker, "/readyz")[0] == 200
