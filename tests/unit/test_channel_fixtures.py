"""Every channel's realistic sample events normalise to the touchpoints written out.

Samples live in tests/fixtures/channels/<channel>/<name>.json as
    {"description": "...", "raw": {...raw event...}, "expected": {...touchpoint...}}
where `expected` omits received_at and raw (fixed here), and identities may name the
plain value to hash: {"email_hash": {"email": "Ann@Example.com"}} or
{"phone_hash": {"phone": "+1 ..."}}.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pipeline.ingest.channels import SPECS
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from schemas.touchpoint import Channel, Touchpoint

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "channels"
RECEIVED = datetime(2026, 6, 1, tzinfo=UTC)
HASHER = PiiHasher(b"fixture-key-0123456789")
SAMPLES = sorted(FIXTURES.glob("*/*.json"))


def expected_touchpoint(channel: Channel, expected: dict[str, Any]) -> Touchpoint:
    ids = dict(expected.get("identities", {}))
    if isinstance(ids.get("email_hash"), dict):
        ids["email_hash"] = HASHER.email(ids["email_hash"]["email"])
    if isinstance(ids.get("phone_hash"), dict):
        ids["phone_hash"] = HASHER.phone(ids["phone_hash"]["phone"])
    return msgspec.convert(
        {
            **expected,
            "identities": ids,
            "received_at": RECEIVED,
            "raw": {"topic": f"touchpoints.raw.{channel}", "partition": 0, "offset": 0},
        },
        Touchpoint,
    )


def test_every_channel_has_samples() -> None:
    covered = {path.parent.name for path in SAMPLES}
    assert covered == {channel.value for channel in Channel}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sample_normalises_to_the_expected_touchpoint(sample: Path) -> None:
    case = json.loads(sample.read_text())
    channel = Channel(sample.parent.name)
    record = RawRecord(f"touchpoints.raw.{channel}", 0, 0, b"key", json.dumps(case["raw"]).encode())
    result = Normalizer(HASHER)(channel, record, RECEIVED)
    assert isinstance(result, Touchpoint), (
        f"dead letter: {getattr(result, 'error_message', result)}"
    )
    assert result == expected_touchpoint(channel, case["expected"])
    assert result.action in SPECS[channel].actions, "the channel's SPEC lacks this action"
