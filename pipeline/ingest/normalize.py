"""Normalising: raw bytes from a channel topic -> a Touchpoint, or a DeadLetter saying why.

    RawRecord (bytes) -> size check -> raw contract (pydantic, from JSON)
                      -> channel mapper -> event-time sanity -> Touchpoint | DeadLetter

`normalize` never raises for a bad record: every failure becomes a dead letter whose
message names the fields at fault but never echoes their values (they may be personal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import msgspec
from crawlerdetect import CrawlerDetect
from pydantic import ValidationError

from pipeline.ingest.channels import SPECS
from pipeline.ingest.channels.base import MapContext
from pipeline.ingest.deadletters import H_REPLAY_COUNT, DeadLetter, dead_letter
from pipeline.ingest.pii import InvalidPersonalData, PiiHasher
from pipeline.settings import Settings
from schemas.touchpoint import Channel, RawRef, Touchpoint


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as read from a raw channel topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()

    def replay_count(self) -> int:
        for name, value in self.headers:
            if name == H_REPLAY_COUNT:
                try:
                    return max(0, int(value))
                except ValueError:
                    return 0
        return 0


@dataclass(frozen=True)
class Limits:
    """What a normaliser accepts."""

    max_payload_bytes: int = 65536
    max_clock_skew: timedelta = timedelta(hours=1)
    max_event_age: timedelta = timedelta(days=5 * 365)


class RejectedRecord(ValueError):
    """A record that parsed but is not acceptable (size, time, identity)."""


class OversizedPayload(RejectedRecord):
    """The record is larger than `JOURNEYS_INGEST_MAX_PAYLOAD_BYTES`."""


class EventTimeOutOfRange(RejectedRecord):
    """The event time lies too far in the future or the past."""


class EmptyPayload(RejectedRecord):
    """The record has no value."""


log = logging.getLogger(__name__)

_crawlers = CrawlerDetect()


@lru_cache(maxsize=65536)
def is_bot_user_agent(user_agent: str | None) -> bool:
    """Whether a user agent is a known crawler or bot (crawlerdetect's maintained list)."""
    return bool(user_agent) and bool(_crawlers.isCrawler(user_agent))


@dataclass(frozen=True)
class Normalizer:
    """Turns raw records of any channel into touchpoints or dead letters."""

    hasher: PiiHasher
    limits: Limits = Limits()
    is_bot: Callable[[str | None], bool] = is_bot_user_agent

    def __call__(
        self, channel: Channel, record: RawRecord, received_at: datetime
    ) -> Touchpoint | DeadLetter:
        try:
            return self._touchpoint(channel, record, received_at)
        except ValidationError as error:
            message = f"{error.title}: {describe(error)}"
            return self.dead(record, "ValidationError", message, received_at)
        except msgspec.ValidationError as error:  # the touchpoint a mapper made
            message = f"Touchpoint: {error}"
            return self.dead(record, "ValidationError", message, received_at)
        except (RejectedRecord, InvalidPersonalData) as error:
            return self.dead(record, type(error).__name__, str(error), received_at)
        except (ValueError, KeyError, TypeError, ArithmeticError) as error:
            # A mapper that trips over a shape its contract let through: still data.
            return self.dead(record, type(error).__name__, f"cannot map: {error}", received_at)

    def _touchpoint(self, channel: Channel, record: RawRecord, received_at: datetime) -> Touchpoint:
        if not record.value:
            raise EmptyPayload("the record has no value")
        if len(record.value) > self.limits.max_payload_bytes:
            raise OversizedPayload(
                f"{len(record.value)} bytes is more than the {self.limits.max_payload_bytes} "
                "allowed (JOURNEYS_INGEST_MAX_PAYLOAD_BYTES)"
            )
        spec = SPECS[channel]
        event = spec.model.model_validate_json(record.value)
        context = MapContext(
            hasher=self.hasher,
            received_at=received_at,
            raw=RawRef(topic=record.topic, partition=record.partition, offset=record.offset),
            is_bot=self.is_bot,
        )
        touchpoint = spec.mapper(event, context)
        self._check_time(touchpoint.event_time, received_at)
        return touchpoint

    def _check_time(self, event_time: datetime, received_at: datetime) -> None:
        if event_time > received_at + self.limits.max_clock_skew:
            raise EventTimeOutOfRange(
                f"event time {event_time.isoformat()} is more than "
                f"{self.limits.max_clock_skew} after it was received"
            )
        if event_time < received_at - self.limits.max_event_age:
            raise EventTimeOutOfRange(
                f"event time {event_time.isoformat()} is older than "
                f"{self.limits.max_event_age.days} days (JOURNEYS_INGEST_MAX_EVENT_AGE)"
            )

    def dead(
        self, record: RawRecord, error_type: str, message: str, received_at: datetime
    ) -> DeadLetter:
        """A dead letter for `record`, keeping its replay count."""
        return dead_letter(
            message,
            error_type=error_type,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            key=record.key,
            value=record.value,
            replay_count=record.replay_count(),
            now=received_at,
        )


def normalizer_for(settings: Settings) -> Normalizer:
    """The normaliser the settings describe (the worker's, and `journeys replay`'s check)."""
    return Normalizer(
        PiiHasher(
            settings.privacy.hash_key.get_secret_value().encode(), settings.ingest.phone_region
        ),
        Limits(
            max_payload_bytes=settings.ingest.max_payload_bytes,
            max_clock_skew=settings.ingest.max_clock_skew,
            max_event_age=settings.ingest.max_event_age,
        ),
    )


def normalize_safely(
    normalizer: Normalizer, channel: Channel, record: RawRecord, received_at: datetime
) -> Touchpoint | DeadLetter:
    """`normalizer(...)`, with a last net: even a bug becomes a dead letter, not a crash.

    The record's payload is never logged (it may hold personal data).
    """
    try:
        return normalizer(channel, record, received_at)
    except Exception as error:  # the net under every mapper: a record never stops a partition
        log.exception(
            "normalising %s[%d]@%d failed unexpectedly",
            record.topic,
            record.partition,
            record.offset,
        )
        return normalizer.dead(record, "InternalError", type(error).__name__, received_at)


def describe(error: ValidationError) -> str:
    """A validation error as 'field: problem; ...' without the offending values."""
    problems = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        location = ".".join(str(part) for part in problem["loc"]) or "(record)"
        problems.append(f"{location}: {problem['msg']}")
    return "; ".join(problems[:20])
