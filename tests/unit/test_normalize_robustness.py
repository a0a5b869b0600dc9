"""Whatever arrives, the normaliser answers with a touchpoint or a dead letter; it never
raises, and its dead letters never echo personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer, RawRecord, normalize_safely
from pipeline.ingest.pii import PiiHasher
from schemas.touchpoint import Channel, Touchpoint
from tests.bad_inputs import BAD_INPUTS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NORMALIZER = Normalizer(PiiHasher(b"robustness-key-0123"))
SAMPLES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "channels").glob("*/*.json"))


def run(channel: Channel, value: bytes | None) -> Touchpoint | DeadLetter:
    record = RawRecord(f"touchpoints.raw.{channel}", 2, 40, b"key", value)
    return normalize_safely(NORMALIZER, channel, record, NOW)


@pytest.mark.parametrize(("name", "channel", "value"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_becomes_a_dead_letter_that_keeps_the_record(
    name: str, channel: Channel, value: bytes | None
) -> None:
    result = run(channel, value)
    assert isinstance(result, DeadLetter), name
    assert result.error_type != "InternalError", result.error_message
    assert result.error_message
    assert (result.source_topic, result.source_partition, result.source_offset) == (
        f"touchpoints.raw.{channel}",
        2,
        40,
    )
    assert result.raw_value == (value or b"")
    assert "ann%40example.com" not in result.error_message
    assert "a@b.co" not in result.error_message


def test_replayed_records_keep_their_replay_count() -> None:
    record = RawRecord("touchpoints.raw.web", 0, 1, None, b"{", [("journeys.replay.count", b"2")])
    result = normalize_safely(NORMALIZER, Channel.WEB, record, NOW)
    assert isinstance(result, DeadLetter)
    assert result.replay_count == 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channel=st.sampled_from(list(Channel)), value=st.binary(max_size=2048))
def test_any_bytes_yield_a_touchpoint_or_a_dead_letter(channel: Channel, value: bytes) -> None:
    result = run(channel, value)
    assert isinstance(result, Touchpoint | DeadLetter)
    if isinstance(result, DeadLetter):
        assert result.error_type != "InternalError", result.error_message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_samples_yield_a_touchpoint_or_a_dead_letter(data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from(SAMPLES))
    raw = json.loads(sample.read_text())["raw"]
    key = data.draw(st.sampled_from(sorted(raw)))
    raw[key] = data.draw(json_values)
    result = run(Channel(sample.parent.name), json.dumps(raw).encode())
    assert isinstance(result, Touchpoint | DeadLetter)
    if isinstance(result, DeadLetter):
        assert result.error_type != "InternalError", result.error_message
