"""Hostile input through the real worker: ten thousand malformed records of every kind
(tests/hostile.py) each land in dead letters with a reason, none is stored as a
touchpoint, the worker neither crashes nor stalls (valid events sent after them are
stored), and its memory stays bounded.

JOURNEYS_TEST_HOSTILE_RECORDS sets how many (default 10,000); the figures it prints are
the ones in docs/reliability.md.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import psutil
import pytest
from kafka import KafkaProducer

from tests.hostile import hostile_records
from tests.support import WorkerProcess, page_views, produce, wait_until

pytestmark = pytest.mark.fault

COUNT = int(os.environ.get("JOURNEYS_TEST_HOSTILE_RECORDS", "10000"))
CANARIES = 200
SETTINGS = {"JOURNEYS_SESSIONS_IDLE_AFTER": "2", "JOURNEYS_SESSIONS_IDLE_RATE": "3600"}


class PeakMemory:
    """The highest RSS of a process, sampled in the background."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return

    def stop(self) -> float:
        """Growth over the start, in MiB."""
        self._stop.set()
        self._thread.join()
        return (self.peak - self.start) / 2**20


def test_hostile_records_all_become_dead_letters_and_the_worker_keeps_going(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**SETTINGS)
    memory = PeakMemory(worker.pid)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20, max_request_size=1_100_000
    )
    sent: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) -> kind
    started = time.monotonic()
    futures = []
    for record in hostile_records(COUNT):
        topic = f"t{unique}.touchpoints.raw.{record.channel}"
        future = producer.send(topic, key=record.key, value=record.value, headers=record.headers)
        futures.append((record.kind, future))
    producer.flush(timeout=120)
    producer.close()
    for kind, future in futures:
        metadata = future.get(timeout=10)
        sent[(metadata.topic, metadata.partition, metadata.offset)] = kind
    # Valid events after the hostile ones: stored only if no hostile record stalled a partition.
    produce(kafka_bootstrap, f"t{unique}.touchpoints.raw.web", page_views(0, CANARIES))

    def landed() -> bool:
        row = worker.query(
            "SELECT (SELECT count() FROM (SELECT DISTINCT source_topic, source_partition,"
            " source_offset FROM dead_letters)) AS letters,"
            " (SELECT uniqExact(event_id) FROM touchpoints) AS touchpoints"
        )[0]
        return int(row["letters"]) >= COUNT and int(row["touchpoints"]) >= CANARIES

    wait_until(landed, 900, f"{COUNT} dead letters and {CANARIES} valid events", interval=2)
    took = time.monotonic() - started
    growth = memory.stop()
    assert worker.process is not None and worker.process.poll() is None, "the worker is alive"

    letters = worker.query(
        "SELECT source_topic, source_partition, source_offset, error_type, error_message,"
        " length(raw_value) AS size FROM dead_letters"
    )
    found = {(r["source_topic"], r["source_partition"], r["source_offset"]): r for r in letters}
    assert found.keys() == sent.keys(), "one dead letter per hostile record, and no other"
    assert all(r["error_type"] and r["error_message"] for r in letters), "each with a reason"
    assert not [r for r in letters if r["error_type"] == "InternalError"], "no mapper crashed"
    stored = worker.query("SELECT uniqExact(event_id) AS n, count() AS rows FROM touchpoints")
    assert stored == [{"n": CANARIES, "rows": CANARIES}], "no hostile record became a touchpoint"

    reasons: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for position, kind in sent.items():
        reasons[kind][found[position]["error_type"]] += 1
    print(f"\n{COUNT:,} hostile records -> {len(found):,} dead letters in {took:.0f} s "
          f"({COUNT / took:,.0f}/s), worker RSS +{growth:.0f} MiB at the peak")  # fmt: skip
    for kind, types in sorted(reasons.items()):
        print(f"  {kind:<26} {sum(types.values()):>6,}  {dict(types.most_common())}")
    assert growth < 400, f"RSS grew {growth:.0f} MiB"
