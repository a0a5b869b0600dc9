"""A second worker joins while the first works through a backlog, and (in the second test)
leaves again before the backlog is done: every input is stored once (nothing lost, nothing
stranded at either rebalance, no touchpoint twice in what analysts query), and no offset
was ever committed, nor a partition given up or recovered, before the pipeline's flush had
made the effects of what it processed durable.

Each worker has an embedded ClickHouse of its own (one process per directory), so the
test reads both: through the running worker, or directly once it stopped. A shared
server would collapse a touchpoint both stored into one row (`v_touchpoints`); the tests
print how many there were, and assert none is stored twice by one worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from pipeline.bench.traffic import bench_events, group_lag, produce_all
from pipeline.bench.workers import StoredInputs
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, wait_until

pytestmark = pytest.mark.fault

EVENTS = 12_000
SETTINGS = {"JOURNEYS_SESSIONS_IDLE_AFTER": "3", "JOURNEYS_SESSIONS_IDLE_RATE": "86400"}
COMMAND = ["-m", "tests.commit_checking_worker"]
STORED = "SELECT count() AS n FROM touchpoints"
DUPLICATED = "SELECT count() - uniqExact(event_id) AS n FROM v_touchpoints"


def stable_members(bootstrap: str, group: str) -> int:
    """Members of `group` once a rebalance has completed (0 while one is under way)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    return len(described["members"]) if described["group_state"] == "Stable" else 0


def commit_log(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The workers' input commits and rebalance events, each checked safe: no commit past
    what was durable, and nothing processed left unflushed at a revocation or recovery."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    offsets = [line for line in lines if "offset" in line]
    assert offsets, "the workers committed input offsets"
    unsafe = [line for line in offsets if line["offset"] > line["durable"] + 1]
    assert unsafe == []
    events = [line for line in lines if "event" in line]
    assert [line for line in events if line["unflushed"]] == []
    return offsets, events


def check_each_input_once(workers: list[WorkerProcess], stores: list[StoredInputs]) -> None:
    """Every input stored by one worker or the other, none twice by one; prints the
    figures (inputs seen by both would be one row each in a shared store)."""
    union = stores[0] | stores[1]
    both = stores[0] & stores[1]
    duplicated = [worker.query(DUPLICATED)[0]["n"] for worker in workers]
    print(f"\n{EVENTS} inputs: {EVENTS - len(union)} lost, duplicated per worker "
          f"{duplicated}, stored by both workers {len(both)}")  # fmt: skip
    assert len(union) == EVENTS
    assert duplicated == [0, 0], "analysts see each touchpoint once"


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
        url = f"chdb://{tmp_path / name}?database=journeys"
        return worker_factory(
            COMMAND, CLICKHOUSE_URL=url, JOURNEYS_TEST_COMMIT_LOG=str(commits), **SETTINGS
        )

    first = start("first-clickhouse")
    wait_until(
        lambda: first.query(STORED)[0]["n"] >= EVENTS // 10,
        180,
        "a tenth of the backlog stored by the first worker",
    )
    second = start("second-clickhouse")
    # The rest of the backlog arrives once both workers own partitions: the second one
    # then has work of its own however fast the first went through the first half.
    group = first.env["KAFKA_CONSUMER_GROUP"]
    wait_until(lambda: stable_members(kafka_bootstrap, group) == 2, 180, "a 2-worker group")
    produce_all(kafka_bootstrap, names, events[EVENTS // 2 :], partitions=4)

    def done() -> list[StoredInputs] | None:
        stores = [StoredInputs.of(first.query), StoredInputs.of(second.query)]
        return stores if len(stores[0] | stores[1]) >= EVENTS else None

    stores = wait_until(done, 300, "every input stored by one worker or the other")
    check_each_input_once([first, second], stores)
    assert stores[1].touchpoints, "the second worker joined in time to take partitions"
    assert first.stop() == 0
    # The second stops once the group has settled without the first: stopped in the
    # middle of that rebalance on a loaded machine, it once waited for a group
    # coordinator the broker did not offer for 20 s, and its stop watchdog ended it
    # (exit 3, as designed: a stop is bounded whatever it waits for).
    wait_until(lambda: stable_members(kafka_bootstrap, group) == 1, 180, "the group without it")
    assert second.stop() == 0
    # The second worker's joining revoked the first one's partitions, and each worker
    # recovered what it was assigned.
    _, rebalances = commit_log(commits)
    assert {"revoked", "recovery"} <= {line["event"] for line in rebalances}


def test_a_second_worker_leaving_mid_backlog_hands_its_work_over_losing_nothing(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    events = bench_events(EVENTS, seed=12)
    names = TopicNames(f"t{unique}.")
    thirds = [events[i * EVENTS // 3 : (i + 1) * EVENTS // 3] for i in range(3)]
    produce_all(kafka_bootstrap, names, thirds[0], partitions=4)
    commits = tmp_path / "commits.jsonl"

    def start(name: str) -> WorkerProcess:
        url = f"chdb://{tmp_path / name}?database=journeys"
        return worker_factory(
            COMMAND, CLICKHOUSE_URL=url, JOURNEYS_TEST_COMMIT_LOG=str(commits), **SETTINGS
        )

    first = start("first-clickhouse")
    wait_until(
        lambda: first.query(STORED)[0]["n"] >= EVENTS // 10,
        180,
        "a tenth of the backlog stored by the first worker",
    )
    second = start("second-clickhouse")
    group = first.env["KAFKA_CONSUMER_GROUP"]
    wait_until(lambda: stable_members(kafka_bootstrap, group) == 2, 180, "a 2-worker group")
    produce_all(kafka_bootstrap, names, thirds[1], partitions=4)
    wait_until(
        lambda: second.query(STORED)[0]["n"] > 0,
        180,
        "the second worker storing touchpoints of its own",
    )
    # The last third arrives as the second worker leaves: it goes with work in hand.
    produce_all(kafka_bootstrap, names, thirds[2], partitions=4)
    behind = sum(
        lag for topic, lag in group_lag(kafka_bootstrap, group).items() if ".raw." in topic
    )
    assert behind > 0, "the group still had a backlog when the second worker left"
    leaver = second.pid
    left = time.monotonic()
    assert second.stop() == 0
    stopped = time.monotonic() - left
    wait_until(lambda: stable_members(kafka_bootstrap, group) == 1, 180, "the group without it")
    regrouped = time.monotonic() - left
    # The leaver's store, read directly now that it stopped, no longer changes.
    left_behind = StoredInputs.of(second.query)

    def done() -> list[StoredInputs] | None:
        stores = [StoredInputs.of(first.query), left_behind]
        return stores if len(stores[0] | stores[1]) >= EVENTS else None

    stores = wait_until(done, 300, "every input stored by one worker or the other")
    print(f"\nthe leaver stopped in {stopped:.1f} s with {behind} raw records of the group "
          f"unread; the first worker owned every partition {regrouped:.1f} s after it "
          f"began to leave, and stored the rest {time.monotonic() - left:.1f} s after")  # fmt: skip
    check_each_input_once([first, second], stores)
    assert first.stop() == 0
    offsets, rebalances = commit_log(commits)
    revoked_at = {line["pid"] for line in rebalances if line["event"] == "revoked"}
    assert leaver in revoked_at, "the leaver gave its partitions up through the revocation"
    # The first worker went on, past the leaver's last commit, on partitions it had left.
    left_at = {(c["topic"], c["partition"]): c["offset"] for c in offsets if c["pid"] == leaver}
    assert left_at, "the leaver committed input of its own"
    taken_over = [
        c
        for c in offsets
        if c["pid"] != leaver and c["offset"] > left_at.get((c["topic"], c["partition"]), 1 << 62)
    ]
    assert taken_over, "the first worker took the leaver's unfinished partitions over"
