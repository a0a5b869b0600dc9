"""Dead letters: the reason travels in headers and comes back intact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.ingest.deadletters import (
    COLUMNS,
    MAX_MESSAGE,
    MAX_RAW_VALUE,
    dead_letter,
    parse_dead_letter,
)

pytestmark = pytest.mark.unit

WHEN = datetime(2026, 5, 4, 3, 2, 1, 123000, tzinfo=UTC)


def test_headers_round_trip() -> None:
    letter = dead_letter(
        KeyError("customer"),
        source_topic="touchpoints.raw.email",
        source_partition=3,
        source_offset=981,
        key=b"k",
        value=b"\xff\xfe not utf-8",
        replay_count=2,
        now=WHEN,
    )
    back = parse_dead_letter(letter.raw_key, letter.raw_value, letter.headers())
    assert back == letter
    assert back.error_type == "KeyError"
    assert len(back.row()) == len(COLUMNS)


def test_a_reason_string_is_a_rejection_and_long_messages_are_cut() -> None:
    letter = dead_letter(
        "x" * (MAX_MESSAGE + 50),
        source_topic="t",
        source_partition=0,
        source_offset=0,
        key=None,
        value=None,
        now=WHEN,
    )
    assert letter.error_type == "Rejected"
    assert len(letter.error_message) == MAX_MESSAGE
    assert (letter.raw_key, letter.raw_value) == (b"", b"")


def test_missing_or_garbled_headers_are_kept_as_unknown() -> None:
    headers = [
        ("journeys.source.partition", b"not a number"),
        ("journeys.failed.at", b"yesterday"),
        ("journeys.replay.count", b"-4"),
        ("unrelated", b"\x00"),
    ]
    letter = parse_dead_letter(None, b"{", headers)
    assert letter.source_topic == "unknown"
    assert letter.source_partition == -1
    assert letter.source_offset == -1
    assert letter.error_type == "unknown"
    assert letter.replay_count == 0
    assert letter.failed_at.tzinfo is not None
    assert letter.raw_value == b"{"


def test_headers_as_a_mapping_are_accepted() -> None:
    letter = parse_dead_letter(b"k", b"v", {"journeys.error.type": b"ValidationError"})
    assert letter.error_type == "ValidationError"


def test_a_raw_value_too_large_for_one_kafka_record_keeps_its_start_and_says_so() -> None:
    value = b"{" + b"x" * (MAX_RAW_VALUE + 40_000)
    letter = dead_letter(
        "OversizedPayload: too large", source_topic="t", source_partition=0,
        source_offset=9, key=b"k", value=value,
    )  # fmt: skip
    assert letter.raw_value == value[:MAX_RAW_VALUE]
    assert letter.error_message.startswith(f"(raw value of {len(value):,} bytes cut")
    assert letter.error_message.endswith("OversizedPayload: too large")
    small = dead_letter("bad", source_topic="t", source_partition=0, source_offset=9,
                        key=None, value=b"{}")  # fmt: skip
    assert (small.raw_value, small.error_message) == (b"{}", "bad")
