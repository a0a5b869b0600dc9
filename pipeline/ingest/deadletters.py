"""Dead letters: a record that could not be used, kept as raw bytes plus why.

On the dead-letter topic a record keeps its original key and value; the reason travels
in headers, so the record can be replayed to its source topic unchanged:

    journeys.source.topic       the topic it was read from
    journeys.source.partition   its partition there (decimal)
    journeys.source.offset      its offset there (decimal)
    journeys.error.type         a short class name, e.g. ValidationError
    journeys.error.message      what was wrong, in words
    journeys.failed.at          when it failed, ISO 8601 UTC
    journeys.replay.count       how often it was replayed already (guards replay loops)
    journeys.rewritten.from     set on a copy `journeys forget` appended when it deleted
                                the records around it (pipeline.purge); the sink skips
                                it, as the original's row is stored already
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

H_SOURCE_TOPIC = "journeys.source.topic"
H_SOURCE_PARTITION = "journeys.source.partition"
H_SOURCE_OFFSET = "journeys.source.offset"
H_ERROR_TYPE = "journeys.error.type"
H_ERROR_MESSAGE = "journeys.error.message"
H_FAILED_AT = "journeys.failed.at"
H_REPLAY_COUNT = "journeys.replay.count"
H_REWRITTEN_FROM = "journeys.rewritten.from"

#: The ClickHouse table of dead letters (the dead-letter sink's).
TABLE = "dead_letters"

#: Longest error message kept.
MAX_MESSAGE = 2000
#: Longest raw value kept: with its headers, a dead letter must fit in one Kafka record
#: (1 MiB by default), and its source may be that large already. A longer value keeps
#: its start, and the message says so (the whole record stays at its source offset).
MAX_RAW_VALUE = 1_000_000

Headers = Sequence[tuple[str, bytes]]

#: Columns of ClickHouse `dead_letters` that a DeadLetter fills, in `row()` order.
COLUMNS: tuple[str, ...] = (
    "source_topic",
    "source_partition",
    "source_offset",
    "error_type",
    "error_message",
    "failed_at",
    "replay_count",
    "raw_key",
    "raw_value",
)


@dataclass(frozen=True)
class DeadLetter:
    """A rejected record and the reason, as stored in the `dead_letters` table."""

    source_topic: str
    source_partition: int
    source_offset: int
    error_type: str
    error_message: str
    failed_at: datetime
    replay_count: int
    raw_key: bytes
    raw_value: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        """The headers that carry this dead letter's reason on the dead-letter topic."""
        return [
            (H_SOURCE_TOPIC, self.source_topic.encode()),
            (H_SOURCE_PARTITION, str(self.source_partition).encode()),
            (H_SOURCE_OFFSET, str(self.source_offset).encode()),
            (H_ERROR_TYPE, self.error_type.encode()),
            (H_ERROR_MESSAGE, self.error_message[:MAX_MESSAGE].encode()),
            (H_FAILED_AT, self.failed_at.isoformat(timespec="milliseconds").encode()),
            (H_REPLAY_COUNT, str(self.replay_count).encode()),
        ]

    def row(self) -> tuple[object, ...]:
        """Values for `COLUMNS`."""
        return (
            self.source_topic,
            self.source_partition,
            self.source_offset,
            self.error_type,
            self.error_message,
            self.failed_at,
            self.replay_count,
            self.raw_key,
            self.raw_value,
        )


def dead_letter(
    error: BaseException | str,
    *,
    error_type: str | None = None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes | None,
    replay_count: int = 0,
    now: datetime | None = None,
) -> DeadLetter:
    """A dead letter for a record that failed with `error` (an exception or a reason).

    `error_type` defaults to the exception's class name, or "Rejected" for a reason.
    """
    if isinstance(error, BaseException):
        kind, message = type(error).__name__, str(error)
    else:
        kind, message = "Rejected", error
    raw_value = value or b""
    if len(raw_value) > MAX_RAW_VALUE:
        message = (
            f"(raw value of {len(raw_value):,} bytes cut to its first {MAX_RAW_VALUE:,}; "
            f"the whole record is at its source offset) {message}"
        )
        raw_value = raw_value[:MAX_RAW_VALUE]
    return DeadLetter(
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        error_type=error_type or kind,
        error_message=message[:MAX_MESSAGE],
        failed_at=now or datetime.now(UTC),
        replay_count=replay_count,
        raw_key=key or b"",
        raw_value=raw_value,
    )


def parse_dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] | dict[str, bytes] | None,
) -> DeadLetter:
    """Read a dead-letter topic record back; missing or garbled headers become 'unknown'.

    A record on the dead-letter topic is never rejected again: whatever it carries is
    stored, so the dead-letter sink cannot itself lose anything.
    """
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    found = {name: raw.decode("utf-8", "replace") for name, raw in pairs if raw is not None}
    return DeadLetter(
        source_topic=found.get(H_SOURCE_TOPIC, "unknown"),
        source_partition=_int(found.get(H_SOURCE_PARTITION), -1),
        source_offset=_int(found.get(H_SOURCE_OFFSET), -1),
        error_type=found.get(H_ERROR_TYPE, "unknown"),
        error_message=found.get(H_ERROR_MESSAGE, ""),
        failed_at=_time(found.get(H_FAILED_AT)),
        replay_count=max(0, _int(found.get(H_REPLAY_COUNT), 0)),
        raw_key=key or b"",
        raw_value=value or b"",
    )


def table_rows(
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] | dict[str, bytes] | None,
) -> list[tuple[object, ...]]:
    """The `dead_letters` row of a dead-letter topic record; none for a rewritten copy."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    if any(name == H_REWRITTEN_FROM for name, _ in pairs):
        return []
    return [parse_dead_letter(key, value, headers).row()]


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _time(text: str | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(text) if text else None
    except ValueError:
        parsed = None
    if parsed is None:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
