"""The canonical touchpoint's checks: what `Touchpoint.checked` (the normaliser's way in)
refuses, and what every way of building one normalises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from pipeline.journeys import codec
from schemas.touchpoint import (
    MAX_PROPERTIES,
    MAX_PROPERTY_VALUE,
    Channel,
    Identities,
    RawRef,
    Touchpoint,
)

pytestmark = pytest.mark.unit

BERLIN = timezone(timedelta(hours=1))


def fields(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "web:1",
        "event_time": datetime(2026, 3, 1, 13, 0, tzinfo=BERLIN),
        "received_at": datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC),
        "channel": Channel.WEB,
        "platform": "website",
        "action": "page_view",
        "identities": Identities(anonymous_id="ck-1"),
        "raw": RawRef(topic="touchpoints.raw.web", partition=0, offset=3),
    }
    return {**base, **changes}


def test_a_checked_touchpoint_is_in_utc_with_its_properties_cut() -> None:
    long = "x" * (MAX_PROPERTY_VALUE + 10)
    touchpoint = Touchpoint.checked(**fields(properties={"path": long}))
    assert touchpoint.event_time == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert touchpoint.event_time.tzinfo is UTC
    assert touchpoint.properties == {"path": "x" * MAX_PROPERTY_VALUE}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "$.event_id"),
        ({"event_id": "e" * 201}, "$.event_id"),
        ({"event_time": datetime(2026, 3, 1, 12, 0)}, "$.event_time"),
        ({"currency": "eur"}, "$.currency"),
        ({"sentiment": 1.5}, "$.sentiment"),
        ({"properties": {str(i): "v" for i in range(MAX_PROPERTIES + 1)}}, "$.properties"),
        ({"channel": "telepathy"}, "$.channel"),
        ({"revenue": "a lot"}, "$.revenue"),
    ],
)
def test_checked_refuses_what_the_contract_forbids(change: dict[str, Any], field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field.replace("$", r"\$")):
        Touchpoint.checked(**fields(**change))


def test_a_touchpoint_built_directly_still_refuses_a_time_without_a_timezone() -> None:
    with pytest.raises(ValueError, match="event_time"):
        Touchpoint(**fields(event_time=datetime(2026, 3, 1, 12, 0)))


def test_a_touchpoint_survives_the_codec_unchanged() -> None:
    touchpoint = Touchpoint.checked(**fields(properties={"segment": "deal_hunter"}))
    assert codec.decoder(Touchpoint).decode(codec.encode(touchpoint)) == touchpoint
