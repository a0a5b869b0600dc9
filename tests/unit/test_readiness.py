"""/readyz's verdict: ready only while the worker owns partitions and flushes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pipeline.web import readiness

pytestmark = pytest.mark.unit


@dataclass
class Runner:
    flushed_at: float | None = None
    partitions: set[int] = field(default_factory=set)

    def assigned_partitions(self) -> set[int]:
        return self.partitions


def test_ready_while_it_owns_partitions_and_flushed_lately() -> None:
    answer = readiness(Runner(flushed_at=100.0, partitions={0, 2}), 30.0, now=110.0)
    assert answer == {
        "ready": True, "reasons": [], "partitions": [0, 2], "last_flush_seconds_ago": 10.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("runner", "reason"),
    [
        (Runner(flushed_at=100.0), "no partition assigned"),
        (Runner(partitions={1}), "no flush completed yet"),
        (Runner(flushed_at=50.0, partitions={1}), "the last flush completed 60 s ago"),
    ],
)
def test_not_ready_says_why(runner: Runner, reason: str) -> None:
    answer = readiness(runner, 30.0, now=110.0)
    assert answer["ready"] is False
    assert any(text.startswith(reason) for text in answer["reasons"]), answer
