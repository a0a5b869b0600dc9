"""A second worker joins while the first works through a backlog: every input is stored
once (nothing lost, nothing stranded at the rebalance), and no offset was ever committed,
nor a partition given up or recovered, before the pipeline's flush had made the effects
of what it processed durable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from pipeline.bench.traffic import bench_events, produce_all
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, wait_until

pytestmark = pytest.mark.e2e

EVENTS = 12_000
SETTINGS = {"JOURNEYS_SESSIONS_IDLE_AFTER": "3", "JOURNEYS_SESSIONS_IDLE_RATE": "86400"}
COMMAND = ["-m", "tests.commit_checking_worker"]


def stable_members(bootstrap: str, group: str) -> int:
    """Members of `group` once a rebalance has completed (0 while one is under way)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    return len(described["members"]) if described["group_state"] == "Stable" else 0


def accounted(workers: list[WorkerProcess]) -> tuple[set[str], set[tuple[str, int, int]]]:
    """Distinct touchpoints and dead letters (by source position) over every worker's
    store: each worker has an embedded ClickHouse of its own, so after the hand-over a
    dead letter may be stored by both workers' dead-letter sinks."""
    ids: set[str] = set()
    letters: set[tuple[str, int, int]] = set()
    for worker in workers:
        ids |= {r["event_id"] for r in worker.query("SELECT DISTINCT event_id FROM touchpoints")}
        letters |= {
            (r["source_topic"], r["source_partition"], r["source_offset"])
            for r in worker.query(
                "SELECT DISTINCT source_topic, source_partition, source_offset FROM dead_letters"
            )
        }
    return ids, letters


def test_a_second_worker_joining_mid_backlog_loses_nothing_and_commits_only_durable_input(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    events = bench_events(EVENTS, seed=11)
    names = TopicNames(f"t{unique}.")
    produce_all(kafka_bootstrap, names, events[: EVENTS // 2], partitions=4)
    commits = tmp_path / "commits.jsonl"

    def start(name: str) -> WorkerProcess:
        # Each worker has an embedded ClickHouse of its own: the test reads both.
        url = f"chdb://{tmp_path / name}?database=journeys"
        return worker_factory(
            COMMAND, CLICKHOUSE_URL=url, JOURNEYS_TEST_COMMIT_LOG=str(commits), **SETTINGS
        )

    first = start("first-clickhouse")
    wait_until(
        lambda: first.query("SELECT count() AS n FROM touchpoints")[0]["n"] >= EVENTS // 10,
        180,
        "a tenth of the backlog stored by the first worker",
    )
    second = start("second-clickhouse")
    # The rest of the backlog arrives once both workers own partitions: the second one
    # then has work of its own however fast the first went through the first half.
    group = first.env["KAFKA_CONSUMER_GROUP"]
    wait_until(lambda: stable_members(kafka_bootstrap, group) == 2, 180, "a 2-worker group")
    produce_all(kafka_bootstrap, names, events[EVENTS // 2 :], partitions=4)

    def done() -> bool:
        ids, letters = accounted([first, second])
        return len(ids) + len(letters) >= EVENTS

    wait_until(done, 300, "every input stored by one worker or the other")
    ids, letters = accounted([first, second])
    assert len(ids) + len(letters) == EVENTS
    assert accounted([second])[0], "the second worker joined in time to take partitions"
    assert first.stop() == 0 and second.stop() == 0
    lines = [json.loads(line) for line in commits.read_text().splitlines()]
    offsets = [line for line in lines if "offset" in line]
    assert offsets, "the workers committed input offsets"
    unsafe = [line for line in offsets if line["offset"] > line["durable"] + 1]
    assert unsafe == []
    # The second worker's joining revoked the first one's partitions, and each worker
    # recovered what it was assigned: nothing processed was left unflushed at either.
    events = [line for line in lines if "event" in line]
    assert {"revoked", "recovery"} <= {line["event"] for line in events}
    assert [line for line in events if line["unflushed"]] == []
