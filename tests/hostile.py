"""Hostile raw records, generated: every one must become a dead letter with a reason.

    for record in hostile_records(10_000, seed=7): ...    # HostileRecord(kind, channel, ...)

Each is built from a valid sample of a channel (tests/fixtures/channels) and broken in
one of the ways of `KINDS`: invalid JSON or UTF-8, wrong types, deep nesting, megabyte
fields, raw control characters, years 1 and 9999, NaN and negative amounts, another
channel's valid event, or no payload at all; some also carry an empty key or megabyte
headers. The same seed gives the same records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.touchpoint import Channel

SAMPLES_DIR = Path(__file__).resolve().parent / "fixtures" / "channels"

Json = Any
JsonPath = tuple[str | int, ...]  # where a value is in a JSON document


@dataclass(frozen=True)
class Sample:
    """A valid raw event of a channel, and where its id, time and amounts are."""

    channel: Channel
    raw: dict[str, Json]
    time_path: JsonPath | None
    amount_paths: tuple[JsonPath, ...]


@dataclass(frozen=True)
class HostileRecord:
    kind: str
    channel: Channel
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def load_samples() -> list[Sample]:
    samples = []
    for path in sorted(SAMPLES_DIR.glob("*/*.json")):
        fixture = json.loads(path.read_text())
        if fixture.get("expected") is None:
            continue
        raw, expected = fixture["raw"], fixture["expected"]
        event_time = datetime.fromisoformat(expected["event_time"].replace("Z", "+00:00"))
        samples.append(
            Sample(
                Channel(path.parent.name),
                raw,
                _find(raw, lambda v, at=event_time: _is_time(v, at)),
                tuple(_find_all(raw, _is_amount_path)),
            )
        )
    return samples


def _leaves(value: Json, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Json]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _find(raw: Json, matches: Callable[[Json], bool]) -> JsonPath | None:
    return next((path for path, value in _leaves(raw) if matches(value)), None)


def _find_all(raw: Json, matches: Callable[[JsonPath, Json], bool]) -> list[JsonPath]:
    return [path for path, value in _leaves(raw) if matches(path, value)]


def _is_time(value: Json, event_time: datetime) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return any(abs(value / scale - event_time.timestamp()) < 1 for scale in (1, 1000))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return parsed.tzinfo is not None and parsed == event_time
    return False


def _is_amount_path(path: JsonPath, value: Json) -> bool:
    name = str(next((p for p in reversed(path) if isinstance(p, str)), ""))
    return name in {"total_price", "amount", "total", "revenue", "price"}


def _set(raw: Json, path: JsonPath, value: Json) -> Json:
    copy = json.loads(json.dumps(raw))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def _dumps(raw: Json) -> bytes:
    return json.dumps(raw, ensure_ascii=False).encode()


def _time_like(sample: Sample, year: int) -> Json:
    at = datetime(year, 1, 1, tzinfo=UTC) if year > 1 else datetime(1, 1, 1, tzinfo=UTC)
    assert sample.time_path is not None
    original = _get(sample.raw, sample.time_path)
    if isinstance(original, int | float) and not isinstance(original, bool):
        seconds = (at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
        return int(seconds * (1000 if original > 1e11 else 1))
    return at.isoformat().replace("+00:00", "Z")


def _get(raw: Json, path: JsonPath) -> Json:
    for part in path:
        raw = raw[part]
    return raw


# ── the ways to break a sample ────────────────────────────────────────────────────────

Breaker = Callable[[random.Random, Sample, list[Sample]], bytes | None]


def _truncated(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    value = _dumps(sample.raw)
    return value[: rng.randrange(1, len(value) - 1)]


def _invalid_utf8(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    value = _dumps(sample.raw)
    at = rng.randrange(1, len(value) - 1)
    return (
        value[:at]
        + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"])
        + value[at:]
    )


def _wrong_types(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    wrong = rng.choice([{"$": 1}, [1, 2], True, None, 12.5, "", "x" * 3])
    broken = {
        key: (wrong if not isinstance(value, dict | list) else value)
        for key, value in sample.raw.items()
    }
    if wrong in ("", "xxx") or all(isinstance(v, dict | list) for v in sample.raw.values()):
        broken = {key: [wrong] for key in sample.raw}
    return _dumps(broken)


def _wrong_top_level(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    return rng.choice([b"[]", b"null", b"true", b"42", b'"event"', _dumps([sample.raw])])


def _deeply_nested(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    depth = rng.randrange(2_000, 50_000)
    nested = b"[" * depth + b"]" * depth
    field = rng.choice([b"context", b"extra", b"payload"])
    return _dumps(sample.raw)[:-1] + b', "' + field + b'": ' + nested + b"}"


def _megabyte_field(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    # As large as Kafka takes by default (message.max.bytes, 1 MiB with the batch).
    size = rng.randrange(1_000_000, 1_040_000)
    return _dumps({**sample.raw, "padding": rng.choice("xyz") * size})


def _control_characters(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes:
    value = _dumps(sample.raw)
    # Raw (unescaped) inside a JSON string, where JSON allows none; between tokens \n and
    # \r would be mere whitespace.
    at = rng.choice(_string_starts(value))
    control = bytes([rng.choice([0, 1, 7, 8, 10, 13, 27, 31])])
    return value[:at] + control + value[at:]


def _string_starts(value: bytes) -> list[int]:
    """Offsets just inside each JSON string's opening quote."""
    starts, inside, escaped = [], False, False
    for at, byte in enumerate(value):
        if inside and escaped:
            escaped = False
        elif inside and byte == ord("\\"):
            escaped = True
        elif byte == ord('"'):
            inside = not inside
            if inside:
                starts.append(at + 1)
    return starts


def _year(year: int) -> Breaker:
    def broken(rng: random.Random, sample: Sample, samples: list[Sample]) -> bytes:
        timed = sample if sample.time_path else rng.choice([s for s in samples if s.time_path])
        assert timed.time_path is not None
        return _dumps(_set(timed.raw, timed.time_path, _time_like(timed, year)))

    return broken


def _bad_amount(rng: random.Random, sample: Sample, samples: list[Sample]) -> bytes:
    priced = sample if sample.amount_paths else rng.choice([s for s in samples if s.amount_paths])
    path = rng.choice(priced.amount_paths)
    original = _get(priced.raw, path)
    bad = rng.choice(["nan", "inf", "negative"])
    if bad == "negative":
        replaced: Json = f"-{original}" if isinstance(original, str) else -abs(original) - 1
        return _dumps(_set(priced.raw, path, replaced))
    token = {"nan": "NaN", "inf": "Infinity"}[bad]
    if isinstance(original, str):
        return _dumps(_set(priced.raw, path, token))
    marker = "__HOSTILE__"
    return _dumps(_set(priced.raw, path, marker)).replace(f'"{marker}"'.encode(), token.encode())


def _other_channel(rng: random.Random, sample: Sample, samples: list[Sample]) -> bytes:
    other = rng.choice([s for s in samples if s.channel != sample.channel])
    return _dumps(other.raw)


def _nothing(rng: random.Random, sample: Sample, _: list[Sample]) -> bytes | None:
    return rng.choice([None, b""])


KINDS: dict[str, Breaker] = {
    "truncated JSON": _truncated,
    "invalid UTF-8": _invalid_utf8,
    "wrong types": _wrong_types,
    "not an object": _wrong_top_level,
    "deep nesting": _deeply_nested,
    "control characters": _control_characters,
    "year 1": _year(1),
    "year 9999": _year(9999),
    "NaN or negative amount": _bad_amount,
    "another channel's event": _other_channel,
    "no payload": _nothing,
}
#: Every this many records, one is a 1 MB field instead (heavy: Kafka, the dead-letter
#: topic and ClickHouse each hold it), and one carries 200 KB of headers.
HEAVY_EVERY = 100


def hostile_records(count: int, seed: int = 7) -> Iterator[HostileRecord]:
    """`count` hostile records, every kind in turn, over every channel's samples."""
    rng = random.Random(seed)
    samples = load_samples()
    kinds = list(KINDS.items())
    for n in range(count):
        kind, breaker = kinds[n % len(kinds)]
        if n % HEAVY_EVERY == HEAVY_EVERY - 1:
            kind, breaker = "1 MB field", _megabyte_field
        sample = rng.choice(samples)
        key: bytes | None = rng.choice([b"", None, b"visitor-1", b"\x00\xff"])
        value = breaker(rng, sample, samples)
        if value is None and key is None:
            key = b""  # Kafka takes no record without both
        headers: list[tuple[str, bytes]] = []
        if n % HEAVY_EVERY == HEAVY_EVERY // 2:
            headers = [("x-hostile", b"h" * 200_000)]
        yield HostileRecord(kind, sample.channel, key, value, headers)
