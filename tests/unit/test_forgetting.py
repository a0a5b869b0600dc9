"""`journeys forget`'s pure parts: identifiers as given become state keys (emails and
phones hashed as the normaliser hashes them), the log names no one, and each table's
rows of the forgotten are selected by customer, identifier and identifier value; a
topic's record names them by a whole string, and a dead letter a purge appended again
makes no second row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.errors import ConfigError
from pipeline.ingest import deadletters
from pipeline.ingest.deadletters import H_REWRITTEN_FROM, dead_letter
from pipeline.ingest.pii import InvalidPersonalData, PiiHasher
from pipeline.journeys.forgetting import fingerprint, identifier_key
from pipeline.purge import Subject
from pipeline.sink import rows
from pipeline.sink.forget import where_forgotten

pytestmark = pytest.mark.unit

HASHER = PiiHasher(b"forget-test-key")


def test_identifiers_become_the_keys_the_state_uses() -> None:
    assert (
        identifier_key("email: Ann@Example.com", HASHER)
        == f"email:{HASHER.email('ann@example.com')}"
    )
    assert identifier_key("phone:+49 30 1234567", HASHER) == f"phone:{HASHER.phone('+49301234567')}"
    assert identifier_key("user:u-1042", HASHER) == "user:u-1042"
    assert identifier_key("anon:c-1", HASHER) == "anon:c-1"


@pytest.mark.parametrize("text", ["u-1042", "customer:u-1", "email:", ":x"])
def test_an_identifier_without_a_known_kind_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="KIND:VALUE"):
        identifier_key(text, HASHER)


def test_a_malformed_email_is_refused() -> None:
    with pytest.raises(InvalidPersonalData):
        identifier_key("email:not-an-address", HASHER)


def test_the_log_keeps_a_fingerprint_not_the_value() -> None:
    assert fingerprint("user:u-1042") != "user:u-1042"
    assert len(fingerprint("user:u-1042")) == 64
    assert fingerprint("user:u-1042") == fingerprint("user:u-1042")


def test_rows_are_selected_by_customer_identifier_and_identifier_value() -> None:
    customers, identifiers = ["anon:c-1"], ["anon:c-1", "email:ab12"]
    touchpoints = where_forgotten(rows.TABLES[rows.TOUCHPOINTS], customers, identifiers)
    assert touchpoints == (
        "has(['anon:c-1'], customer_id) OR has(['c-1'], ifNull(anonymous_id, '')) "
        "OR has(['ab12'], ifNull(email_hash, ''))"
    )
    merges = where_forgotten(rows.TABLES[rows.CUSTOMER_MERGES], customers, identifiers)
    assert merges is not None and "loser_id" in merges and "winner_id" in merges
    assert "has(['anon:c-1', 'email:ab12'], identifier)" in merges
    assert where_forgotten(rows.TABLES[rows.PARTIALS], customers, identifiers) is None


def test_a_record_names_them_by_a_whole_json_string_only() -> None:
    subject = Subject.of(["user:ann-42", "email:abc123"], ["anon:ck-1"], ["ann@example.com"])
    assert subject.in_bytes([b'{"userId": "ann-42"}'])
    assert subject.in_bytes([b'[{"type":"fc","key":"anon:ck-1"}]'])
    assert subject.in_bytes([None, b'{"email":"ann@example.com"}'])
    assert subject.in_bytes([b'{"email_hash":"abc123"}'])
    assert not subject.in_bytes([b'{"userId": "ann-421"}', b'{"id": "bann-42"}', None])
    assert not subject.in_bytes([b'{"email":"joann@example.com"}'])


def test_a_dead_letter_copy_left_by_a_purge_makes_no_second_row() -> None:
    letter = dead_letter(
        "bad", error_type="ValidationError", source_topic="t.raw", source_partition=0,
        source_offset=7, key=b"k", value=b"{}", now=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    headers = letter.headers()
    assert len(deadletters.table_rows(b"k", b"{}", headers)) == 1
    assert deadletters.table_rows(b"k", b"{}", [*headers, (H_REWRITTEN_FROM, b"0/3")]) == []
    assert deadletters.table_rows(b"k", b"{}", {H_REWRITTEN_FROM: b"0/3"}) == []
