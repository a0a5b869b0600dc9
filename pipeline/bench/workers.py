"""Pipeline workers (`python -m pipeline worker`) as child processes of the benchmark.

Each worker owns its own embedded ClickHouse directory (one process per chdb path), so
what the pipeline has done is read through each worker's /query/ endpoint and summed.

    fleet = Fleet.start(bootstrap, prefix="b1.", group="bench-1", count=2, workdir=...)
    fleet.wait_ready(timeout=120)
    fleet.add()                # one more worker joins the group (mid-run)
    fleet.processed()          # rows in touchpoints + dead_letters, over all workers
    fleet.stored()             # what each worker stored, by input (StoredInputs)
    fleet.window()             # (first record normalised, last row inserted), time.time()
"""

from __future__ import annotations

import functools
import json
import operator
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.bench.processes import Child
from pipeline.errors import JourneysError
from pipeline.localstack.kafka import free_port
from pipeline.subprocesses import clean_env

#: Wall seconds after which a silent source stops holding the watermark back (default 60).
IDLE_AFTER = 3.0
#: Event-time seconds per wall second on an idle partition (default 1).
IDLE_RATE = 600.0


class BenchError(JourneysError):
    """A benchmark run could not complete (a process died, or a phase timed out)."""


class Stalled(BenchError):
    """The pipeline stopped storing records before it had them all."""

    def __init__(self, stored: int, expected: int, message: str) -> None:
        super().__init__(message)
        self.stored = stored
        self.expected = expected


@dataclass(frozen=True)
class StoredInputs:
    """The inputs some stores hold, by identity: touchpoints by event id, dead letters by
    source position. Row counts count an input stored twice (a replay, a handover
    between workers) twice; these do not."""

    touchpoints: frozenset[str]
    dead_letters: frozenset[tuple[str, int, int]]

    @classmethod
    def of(cls, query: Callable[[str], list[dict[str, Any]]]) -> StoredInputs:
        """What the store behind `query` (a worker's read-only query) holds."""
        return cls(
            frozenset(
                row["event_id"] for row in query("SELECT DISTINCT event_id FROM touchpoints")
            ),
            frozenset(
                (row["source_topic"], row["source_partition"], row["source_offset"])
                for row in query(
                    "SELECT DISTINCT source_topic, source_partition, source_offset "
                    "FROM dead_letters"
                )
            ),
        )

    def __or__(self, other: StoredInputs) -> StoredInputs:
        return StoredInputs(
            self.touchpoints | other.touchpoints, self.dead_letters | other.dead_letters
        )

    def __and__(self, other: StoredInputs) -> StoredInputs:
        return StoredInputs(
            self.touchpoints & other.touchpoints, self.dead_letters & other.dead_letters
        )

    def __len__(self) -> int:
        return len(self.touchpoints) + len(self.dead_letters)


NOTHING_STORED = StoredInputs(frozenset(), frozenset())


class Worker:
    """One pipeline worker and its HTTP query endpoint."""

    def __init__(self, child: Child, web_port: int) -> None:
        self.child = child
        self.web_port = web_port
        self.answered = False  # its query endpoint has answered once

    def query(self, sql: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Rows of a read-only query, through the worker."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/query/",
            data=json.dumps({"sql": sql}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        return [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]

    def ready(self) -> bool:
        if not self.child.running():
            raise BenchError(f"a worker exited while starting:\n{self.child.log_tail()}")
        try:
            self.answered = self.query("SELECT 1 AS one", timeout=5) == [{"one": 1}]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return self.answered


@dataclass
class Fleet:
    """Workers sharing one consumer group and topic prefix."""

    workers: list[Worker]
    launch: Callable[[int], Worker]  # starts worker number i with the fleet's settings

    @classmethod
    def start(
        cls,
        bootstrap: str,
        *,
        prefix: str,
        group: str,
        count: int,
        partitions: int,
        workdir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> Fleet:
        """Start `count` workers (not yet ready: see `wait_ready`)."""

        def launch(index: int) -> Worker:
            port = free_port()
            env = clean_env(
                KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                KAFKA_TOPIC_PREFIX=prefix,
                KAFKA_CONSUMER_GROUP=group,
                KAFKA_PARTITIONS=str(partitions),
                CLICKHOUSE_URL=f"chdb://{workdir / f'clickhouse-{index}'}?database=journeys",
                JOURNEYS_WORKER_WEB_PORT=str(port),
                JOURNEYS_WORKER_DATA_DIR=str(workdir / f"faust-{index}"),
                JOURNEYS_WORKER_LOG_LEVEL="warning",
                # The engine holds each touchpoint until the watermark passes it. When the
                # traffic stops, a source silent this long stops holding the watermark
                # back, and idle partitions move on 10 event-minutes per second: the last
                # records of a run come out in seconds, not after 60 s + 5 min.
                JOURNEYS_SESSIONS_IDLE_AFTER=str(IDLE_AFTER),
                JOURNEYS_SESSIONS_IDLE_RATE=str(IDLE_RATE),
            )
            env.update(extra_env or {})  # overrides any of the above
            child = Child(["-m", "pipeline", "worker"], env, workdir / f"worker-{index}.log")
            return Worker(child.start(), port)

        return cls([launch(index) for index in range(count)], launch)

    def add(self) -> Worker:
        """Start one more worker in the group: it joins, and a rebalance follows."""
        worker = self.launch(len(self.workers))
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.workers)
        while waiting:
            waiting = [worker for worker in waiting if not worker.ready()]
            if waiting and time.monotonic() > deadline:
                raise BenchError(f"a worker did not answer within {timeout:.0f} s")
            time.sleep(0.25)

    def processed(self) -> int:
        """Records that reached ClickHouse: touchpoints plus dead letters, all workers."""
        return sum(
            int(worker.query(
                "SELECT (SELECT count() FROM touchpoints) + (SELECT count() FROM dead_letters) AS n"
            )[0]["n"])
            for worker in self.workers
            if worker.answered or worker.ready()  # one that joined late may be starting
        )  # fmt: skip

    def stored(self) -> list[StoredInputs]:
        """What each worker stored, by input (nothing for one still starting)."""
        return [
            StoredInputs.of(worker.query) if worker.answered or worker.ready() else NOTHING_STORED
            for worker in self.workers
        ]

    def window(self) -> tuple[float, float]:
        """(when the first record was normalised, when the last row was inserted)."""
        firsts, lasts = [], []
        for worker in self.workers:
            if not (worker.answered or worker.ready()):
                continue  # joined at the very end: still starting, stored nothing
            row = worker.query(
                "SELECT min(at) AS first, max(inserted) AS last FROM ("
                "SELECT received_at AS at, _inserted_at AS inserted FROM touchpoints "
                "UNION ALL SELECT failed_at, _inserted_at FROM dead_letters)"
            )[0]
            if _epoch(row["last"]) > 0:  # a worker that joined late may have stored nothing
                firsts.append(_epoch(row["first"]))
                lasts.append(_epoch(row["last"]))
        return min(firsts), max(lasts)

    def wait_processed(
        self,
        expected: int,
        timeout: float,
        poll: float = 0.5,
        on_poll: Callable[[int], None] | None = None,
        stall: float = 60.0,
    ) -> None:
        """Block until `expected` inputs reached ClickHouse, each counted once however
        many rows it has (rows are counted while fewer); `on_poll(rows)` each poll.

        Raises Stalled when the count has not moved for `stall` seconds, or at `timeout`.
        """
        deadline = time.monotonic() + timeout
        last, moved = -1, time.monotonic()
        while True:
            for worker in self.workers:
                if not worker.child.running():
                    raise BenchError(f"a worker exited:\n{worker.child.log_tail()}")
            done = self.processed()
            if on_poll is not None:
                on_poll(done)
            if done >= expected:  # enough rows: are they every input, or some twice?
                done = len(functools.reduce(operator.or_, self.stored()))
                if done >= expected:
                    return
            now = time.monotonic()
            if done != last:
                last, moved = done, now
            if now > deadline or now - moved > stall:
                why = (
                    f"in {timeout:.0f} s"
                    if now > deadline
                    else f"and then no more for {stall:.0f} s"
                )
                raise Stalled(
                    done, expected, f"the pipeline stored {done:,} of {expected:,} inputs {why}"
                )
            time.sleep(poll)

    def customers(self) -> int:
        """Distinct customers the engine has seen (bots never reach it), all workers."""
        return sum(
            int(worker.query(
                "SELECT uniqExact(customer_id) AS n FROM touchpoints WHERE NOT is_bot"
            )[0]["n"])
            for worker in self.workers
        )  # fmt: skip

    def stop(self) -> None:
        for worker in self.workers:
            worker.child.stop()


def _epoch(value: str) -> float:
    """time.time() of a ClickHouse time as the /query/ endpoint returns it (ISO, UTC)."""
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
