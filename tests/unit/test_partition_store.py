"""The partition's state store: one changelog record per changed key per drain, windows
as one record each, deletes as tombstones, and a store rebuilt from those records."""

from __future__ import annotations

import pytest

from pipeline.errors import StateFormatError
from pipeline.journeys.state import CustomerState
from pipeline.journeys.store import PartitionState

pytestmark = pytest.mark.unit


def test_a_drain_writes_each_changed_record_once_and_deletes_as_tombstones() -> None:
    data: dict[str, bytes] = {}
    state = PartitionState(data, 3)
    for n in range(5):  # five changes of one customer between flushes
        state.customers.put(CustomerState(customer_id="user:a", touchpoints=n))
    state.customers.put(CustomerState(customer_id="user:b"))
    changes = dict(state.drain({}))
    assert set(changes) == {"3|c|user:a", "3|c|user:b", "3|meta"}
    assert state.drain({}) == []  # nothing changed since
    state.customers.delete("user:b")
    assert state.drain({}) == [("3|c|user:b", None)]
    again = PartitionState(dict(data), 3)
    found = again.customers.get("user:a")
    assert found is not None and found.touchpoints == 4
    assert again.customers.get("user:b") is None


def test_window_counts_travel_as_one_record_per_window() -> None:
    data: dict[str, bytes] = {}
    state = PartitionState(data, 0)
    for metric in ("entered", "entered", "passed"):
        state.counts.add(f"c|0|3600|7200|all|all|awareness|{metric}", 1)
    state.counts.add("c|0|3600|10800|all|all|awareness|entered", 1)
    state.counts.add("e|0|3600", 7200)  # progress: travels in the meta record
    changes = [key for key, _ in state.drain({})]
    assert sorted(changes) == ["0|meta", "0|w|3600|10800", "0|w|3600|7200"]
    again = PartitionState(dict(data), 0)
    assert again.counts.get("c|0|3600|7200|all|all|awareness|entered") == 2
    assert again.counts.get("c|0|3600|7200|all|all|awareness|passed") == 1
    for key in list(again.counts.keys("c|0|3600|7200|")):
        again.counts.delete(key)
    assert again.drain({}) == [("0|w|3600|7200", None)]  # meta unchanged: not rewritten


def test_a_state_record_of_another_format_fails_with_what_to_do() -> None:
    """A customer as the previous build wrote it (pydantic JSON with field names)."""
    old = b'{"customer_id":"user:a","touchpoints":3}'
    state = PartitionState({"3|c|user:a": old}, 3)
    with pytest.raises(StateFormatError, match="KAFKA_CONSUMER_GROUP"):
        state.customers.get("user:a")
