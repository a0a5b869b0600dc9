"""Ingestion on the real broker: valid events become touchpoints, bad ones dead letters,
corrected dead letters land once on replay, and no personal data leaks downstream."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.ingest.replay import replay_dead_letters
from tests.support import WorkerProcess, consume_all, produce, wait_until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "channels"
EMAIL = "ann.lee@example.com"


def valid_samples() -> list[tuple[str, dict[str, object], str]]:
    """(channel, raw event, expected event id) for every channel sample."""
    samples = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        case = json.loads(path.read_text())
        samples.append((path.parent.name, case["raw"], case["expected"]["event_id"]))
    return samples


#: (channel, raw bytes, why it is invalid); several carry personal data on purpose.
INVALID: list[tuple[str, bytes, str]] = [
    ("web", b'{"messageId": "m-1", "type": "page", "anonymousId": ', "malformed JSON"),
    ("web", b'{"messageId": 7, "type": "page", "anonymousId": "c", "timestamp": "x"}', "types"),
    ("web", b'{"type": "page", "anonymousId": "c", "timestamp": "2026-03-01T10:00:00Z"}', "no id"),
    (
        "web",
        b'{"messageId": "m-2", "type": "track", "event": "Wishlist Added", "anonymousId": "c-9",'
        b' "timestamp": "2026-03-01T10:00:00Z"}',
        "unknown action",
    ),
    (
        "email",
        b'{"sg_event_id": "e-9", "event": "open", "timestamp": 4102444800, "email": "'
        + EMAIL.encode()
        + b'"}',
        "far future",
    ),
    (
        "email",
        b'{"sg_event_id": "e-10", "event": "open", "timestamp": 1741000000,'
        b' "email": "not-an-address"}',
        "bad email",
    ),
    ("web", b"\xff\xfe\x00garbage", "invalid UTF-8"),
    ("web", b'{"messageId": "big", "pad": "' + b"x" * 70000 + b'"}', "oversized"),
]

#: Corrected payloads for two of them, by index in INVALID.
CORRECTED: dict[int, dict[str, object]] = {
    1: {
        "messageId": "m-7",
        "type": "page",
        "anonymousId": "c",
        "timestamp": "2026-03-01T10:00:00Z",
    },
    3: {
        "messageId": "m-2",
        "type": "track",
        "event": "Product Added",
        "anonymousId": "c-9",
        "timestamp": "2026-03-01T10:00:00Z",
    },
}


def test_valid_become_touchpoints_invalid_become_dead_letters_and_replay_lands_once(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    prefix = f"t{unique}."
    # Idle partitions release their last touchpoints quickly (a second is an hour).
    worker = worker_factory(JOURNEYS_SESSIONS_IDLE_AFTER="2", JOURNEYS_SESSIONS_IDLE_RATE="3600")
    valid = valid_samples()
    for channel in {c for c, _, _ in valid} | {c for c, _, _ in INVALID}:
        records = [(b"k", json.dumps(raw).encode(), []) for c, raw, _ in valid if c == channel]
        records += [(b"k", value, []) for c, value, _ in INVALID if c == channel]
        produce(kafka_bootstrap, f"{prefix}touchpoints.raw.{channel}", records)

    def stored_ids(n: int) -> list[str] | None:
        rows = worker.query("SELECT event_id FROM touchpoints FINAL ORDER BY event_id")
        return [row["event_id"] for row in rows] if len(rows) >= n else None

    ids = wait_until(lambda: stored_ids(len(valid)), 60, "the touchpoints in ClickHouse")
    assert ids == sorted(event_id for _, _, event_id in valid)

    dead = consume_all(kafka_bootstrap, f"{prefix}touchpoints.dead-letter", len(INVALID))
    assert sorted(record.value for record in dead) == sorted(value for _, value, _ in INVALID)
    wait_until(
        lambda: worker.query("SELECT count() AS n FROM dead_letters")[0]["n"] >= len(INVALID),
        60,
        "the dead letters in ClickHouse",
    )
    stored = worker.query("SELECT error_type, error_message, source_offset FROM dead_letters")
    assert len(stored) == len(INVALID)
    assert {row["error_type"] for row in stored} >= {
        "ValidationError",
        "EventTimeOutOfRange",
        "InvalidPersonalData",
        "OversizedPayload",
    }

    # Replay: two corrected records become touchpoints; the rest fail again, counted.
    fixes = {}
    offsets = _offsets_by_value(dead)
    for index, corrected in CORRECTED.items():
        topic, partition, offset = offsets[INVALID[index][1]]
        fixes[(topic, partition, offset)] = json.dumps(corrected).encode()
    group = f"journeys-t{unique}.dlq-replay"
    dry = replay_dead_letters(
        kafka_bootstrap, f"{prefix}touchpoints.dead-letter", group, dry_run=True, fixes=fixes
    )
    assert (dry.read, dry.replayed, dry.corrected) == (len(INVALID), len(INVALID), 2)
    first = replay_dead_letters(
        kafka_bootstrap, f"{prefix}touchpoints.dead-letter", group, fixes=fixes
    )
    assert (first.read, first.replayed, first.corrected) == (len(INVALID), len(INVALID), 2)
    wanted = len(INVALID) * 2 - 2
    dead = consume_all(kafka_bootstrap, f"{prefix}touchpoints.dead-letter", wanted)
    assert len(dead) == wanted
    second = replay_dead_letters(
        kafka_bootstrap, f"{prefix}touchpoints.dead-letter", group, fixes=fixes
    )
    assert (second.read, second.replayed, second.corrected) == (
        len(INVALID) - 2,
        len(INVALID) - 2,
        0,
    )

    ids = wait_until(lambda: stored_ids(len(valid) + 2), 60, "the corrected touchpoints")
    assert ids == sorted([event_id for _, _, event_id in valid] + ["web:m-7", "web:m-2"])

    # Personal data: nowhere downstream but in the quarantined raw payload of dead letters.
    plain = personal_data([raw for _, raw, _ in valid])
    assert EMAIL in plain and any(p.startswith("+") for p in plain), "samples carry PII"
    # Touchpoints crossing partitions travel in envelopes: hashed identities only.
    for record in consume_all(kafka_bootstrap, f"{prefix}journeys.internal", 0, settle=1):
        text = record.value.decode().lower()
        assert not any(secret.lower() in text for secret in plain)
    for record in dead:
        headers = b" ".join(value for _, value in record.headers).decode("utf-8", "replace")
        assert EMAIL not in headers
    messages = worker.query("SELECT groupArray(error_message) AS m FROM dead_letters")[0]["m"]
    assert not any(EMAIL in message for message in messages)
    # Nor in any table the journey engine fills (every column, as text).
    wait_until(
        lambda: worker.query("SELECT count() AS n FROM touchpoints")[0]["n"] >= len(valid),
        60,
        "the touchpoints in ClickHouse",
    )
    for table in ("touchpoints", "sessions", "stage_transitions", "journeys"):
        text = json.dumps(worker.query(f"SELECT * FROM {table}")).lower()
        assert not any(secret.lower() in text for secret in plain), table
    assert worker.stop() == 0
    log = worker.log_path.read_text(errors="replace")
    assert not any(secret in log for secret in plain), "personal data in the worker's log"


def personal_data(raws: list[dict[str, object]]) -> set[str]:
    """Every email address and phone number in the raw samples, in every spelling used."""
    found: set[str] = set()

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                walk(inner, name)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, key)
        elif isinstance(value, str):
            if re.fullmatch(r"\s*[^@\s]+@[^@\s]+\.\w+\s*", value):
                found.add(value.strip())
            elif key.lower() in {"phone", "to", "from"}:
                found.add(value.strip())
                found.add(re.sub(r"[^\d+]", "", value))

    for raw in raws:
        walk(raw)
    return found


def _offsets_by_value(records: list[object]) -> dict[bytes, tuple[str, int, int]]:
    """(source topic, partition, offset) of each dead letter's raw value."""
    found = {}
    for record in records:
        headers = dict(record.headers)  # type: ignore[attr-defined]
        found[record.value] = (  # type: ignore[attr-defined]
            headers["journeys.source.topic"].decode(),
            int(headers["journeys.source.partition"]),
            int(headers["journeys.source.offset"]),
        )
    return found
