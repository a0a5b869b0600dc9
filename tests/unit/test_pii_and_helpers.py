"""Personal data hashing and the mappers' shared helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.ingest.channels.base import clean_url, money, sentiment, utm_from_url
from pipeline.ingest.pii import InvalidPersonalData, PiiHasher

pytestmark = pytest.mark.unit

HASHER = PiiHasher(b"unit-test-key-0123", default_region="DE")


def test_emails_hash_the_same_however_written() -> None:
    assert HASHER.email("  Ann.Lee@Example.COM ") == HASHER.email("ann.lee@example.com")
    assert HASHER.email("ann.lee@example.com") != HASHER.email("ann.lee@example.org")
    assert len(HASHER.email("ann.lee@example.com")) == 64


def test_phones_hash_the_same_in_any_format_and_national_numbers_use_the_region() -> None:
    e164 = HASHER.phone("+49301234567")
    assert HASHER.phone("+49 (0)30 123 4567") == e164
    assert HASHER.phone("030 1234567") == e164  # national, region DE


def test_a_different_key_gives_different_hashes() -> None:
    other = PiiHasher(b"another-key-0123456")
    assert other.email("ann.lee@example.com") != HASHER.email("ann.lee@example.com")


def test_emails_and_phones_never_share_a_hash_space() -> None:
    assert HASHER.email("1@2.de") != HASHER.phone("+4912345678")


@pytest.mark.parametrize("bad", ["", "ann", "ann@", "@example.com", "ann lee@example.com"])
def test_invalid_emails_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(InvalidPersonalData) as raised:
        HASHER.email(bad)
    assert bad.strip() == "" or bad not in str(raised.value)


@pytest.mark.parametrize("bad", ["12", "not a number", "+1"])
def test_invalid_phones_are_refused(bad: str) -> None:
    with pytest.raises(InvalidPersonalData):
        HASHER.phone(bad)


def test_clean_url_keeps_utm_and_drops_everything_else() -> None:
    url = (
        "https://shop.example/p/1?email=ann%40example.com&utm_source=ig&sid=42&utm_medium=paid#top"
    )
    assert clean_url(url) == "https://shop.example/p/1?utm_source=ig&utm_medium=paid"
    assert clean_url("/relative/path?token=x") == "/relative/path"
    assert clean_url(None) is None
    utm = utm_from_url(url)
    assert utm is not None and (utm.source, utm.medium, utm.campaign) == ("ig", "paid", None)


def test_money_keeps_precision_and_refuses_nonsense() -> None:
    assert money("49.90") == Decimal("49.90")
    assert money(12) == Decimal(12)
    assert money(None) is None
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            money(bad)


def test_sentiment_maps_a_scale_onto_minus_one_to_one() -> None:
    assert sentiment(1, 1, 5) == -1
    assert sentiment(3, 1, 5) == 0
    assert sentiment(5, 1, 5) == 1
    assert sentiment(9, 0, 10) == 0.8
    assert sentiment(None, 1, 5) is None
    with pytest.raises(ValueError, match="outside"):
        sentiment(6, 1, 5)
