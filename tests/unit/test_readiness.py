"""/readyz's verdict: ready only while the worker owns partitions, flushes, and keeps up;
the live summary's health line says the same."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pytest
from rich.console import Console

from pipeline.health import Limits, WriteFailures, readiness
from pipeline.summary import render_health

pytestmark = pytest.mark.unit

LIMITS = Limits(flush_age=30.0, lag=1000)


@dataclass
class Runner:
    flushed_at: float | None = None
    partitions: set[int] = field(default_factory=set)
    behind: int = 0

    def assigned_partitions(self) -> set[int]:
        return self.partitions

    def lag(self) -> int:
        return self.behind


def test_ready_while_it_owns_partitions_flushed_lately_and_keeps_up() -> None:
    verdict = readiness(Runner(flushed_at=100.0, partitions={0, 2}, behind=1000), LIMITS, 110.0)
    assert asdict(verdict) == {
        "ready": True, "reasons": [], "partitions": [0, 2], "last_flush_seconds_ago": 10.0,
        "lag": 1000, "write_failures": 0, "last_write_failure": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("runner", "reason"),
    [
        (Runner(flushed_at=100.0), "no partition assigned"),
        (Runner(partitions={1}), "no flush completed yet"),
        (Runner(flushed_at=50.0, partitions={1}), "the last flush completed 60 s ago"),
        (Runner(flushed_at=100.0, partitions={1}, behind=1001), "1,001 raw records not yet"),
    ],
)
def test_not_ready_says_why(runner: Runner, reason: str) -> None:
    verdict = readiness(runner, LIMITS, 110.0)
    assert verdict.ready is False
    assert any(text.startswith(reason) for text in verdict.reasons), verdict


def test_failed_writes_are_counted_and_the_summary_shows_them() -> None:
    failures = WriteFailures()
    failures.record(ConnectionError("ClickHouse is unreachable\nat 10.0.0.1"))
    failures.record(ConnectionError("ClickHouse is unreachable\nat 10.0.0.1"))
    verdict = readiness(Runner(flushed_at=50.0, partitions={1}, behind=7), LIMITS, 110.0, failures)
    assert (verdict.write_failures, verdict.last_write_failure) == (
        2, "ConnectionError: ClickHouse is unreachable",
    )  # fmt: skip
    console = Console(width=300, record=True)
    console.print(render_health(verdict))
    line = console.export_text().strip()
    assert line.startswith("worker NOT READY: the last flush completed 60 s ago")
    assert "lag 7 records, 2 failed writes; last: ConnectionError" in line
    healthy = readiness(Runner(flushed_at=100.0, partitions={1}), LIMITS, 110.0)
    assert str(render_health(healthy)) == "worker ready: lag 0 records, 0 failed writes"
