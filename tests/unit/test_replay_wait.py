"""`journeys replay --wait`'s polling: asks in chunks small enough for ClickHouse, asks
only for the events not yet final, and gives up at the timeout with what is missing."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from pipeline.files import waiting
from pipeline.files.waiting import final_among, wait_until_final

pytestmark = pytest.mark.unit


class Stored:
    """Event ids that become final one poll after another (a stand-in for the table)."""

    def __init__(self, waves: list[set[str]]) -> None:
        self.waves = waves
        self.final: set[str] = set()
        self.asked: list[int] = []  # ids per query

    def poll(self) -> None:
        if self.waves:
            self.final |= self.waves.pop(0)

    def ask(self, sql: str) -> Sequence[Sequence[str]]:
        assert "_version = 2" in sql
        literals = re.findall(r"'((?:[^'\\]|\\.)*)'", sql)
        listed = [re.sub(r"\\(.)", r"\1", literal) for literal in literals]
        self.asked.append(len(listed))
        return [[event_id] for event_id in listed if event_id in self.final]


def test_ids_are_asked_for_in_chunks_and_quoted() -> None:
    stored = Stored([])
    stored.final = {"a", "o'brien"}
    ids = [f"e-{n}" for n in range(waiting.PER_QUERY * 2 + 1)] + ["a", "o'brien"]
    assert final_among(stored.ask, ids) == {"a", "o'brien"}  # quoted and read back
    assert stored.asked == [waiting.PER_QUERY, waiting.PER_QUERY, 3]


def test_waits_until_every_id_is_final_asking_only_for_the_rest() -> None:
    stored = Stored([{"a"}, {"b"}, {"c"}])
    told: list[int] = []

    def ask(sql: str) -> Sequence[Sequence[str]]:
        stored.poll()
        return stored.ask(sql)

    missing = wait_until_final(ask, {"a", "b", "c"}, timeout=60, told=told.append, poll=0)
    assert missing == set()
    assert told == [1, 2, 3]
    assert stored.asked == [3, 2, 1]


def test_gives_up_at_the_timeout_with_what_is_missing() -> None:
    stored = Stored([{"a"}])

    def ask(sql: str) -> Sequence[Sequence[str]]:
        stored.poll()
        return stored.ask(sql)

    assert wait_until_final(ask, {"a", "b"}, timeout=0, poll=0) == {"b"}
