"""Whether the worker is doing its job: what /readyz answers and the live summary shows.

    verdict = readiness(runner, limits, time.monotonic())
    verdict.ready, verdict.reasons, verdict.lag, verdict.write_failures

Ready means: it owns partitions, its last flush (ClickHouse rows, state, acknowledgements)
completed recently, and its raw input not yet durable stays under a bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class WriteFailures:
    """Failed ClickHouse writes since start (each retried until it succeeds)."""

    count: int = 0
    last: str | None = None
    last_at: float | None = None  # time.monotonic()

    def record(self, error: BaseException) -> None:
        self.count += 1
        self.last = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        self.last_at = time.monotonic()


class Flushing(Protocol):
    """What readiness looks at (pipeline.journeys.agent.PipelineRunner)."""

    flushed_at: float | None

    def assigned_partitions(self) -> set[int]: ...

    def lag(self) -> int: ...


@dataclass(frozen=True)
class Limits:
    """How stale the last flush and how large the lag may be while ready."""

    flush_age: float
    lag: int


@dataclass(frozen=True)
class Readiness:
    """The verdict, and the figures behind it."""

    ready: bool
    reasons: list[str]
    partitions: list[int]
    last_flush_seconds_ago: float | None
    lag: int
    write_failures: int
    last_write_failure: str | None = field(default=None)


def readiness(
    runner: Flushing, limits: Limits, now: float, failures: WriteFailures | None = None
) -> Readiness:
    """Whether the worker is doing its job, and if not, why."""
    reasons = []
    partitions = sorted(runner.assigned_partitions())
    if not partitions:
        reasons.append(
            "no partition assigned (starting, rebalancing, or more workers than partitions)"
        )
    age = None if runner.flushed_at is None else round(now - runner.flushed_at, 1)
    if age is None:
        reasons.append("no flush completed yet")
    elif age > limits.flush_age:
        reasons.append(
            f"the last flush completed {age:.0f} s ago (JOURNEYS_WORKER_READY_FLUSH_AGE "
            f"{limits.flush_age:g} s): ClickHouse or Kafka is refusing or slow; see the "
            "worker's log"
        )
    lag = runner.lag()
    if lag > limits.lag:
        reasons.append(
            f"{lag:,} raw records not yet durable (JOURNEYS_WORKER_READY_MAX_LAG "
            f"{limits.lag:,}): the worker is behind its input"
        )
    failures = failures or WriteFailures()
    return Readiness(
        ready=not reasons,
        reasons=reasons,
        partitions=partitions,
        last_flush_seconds_ago=age,
        lag=lag,
        write_failures=failures.count,
        last_write_failure=failures.last,
    )
