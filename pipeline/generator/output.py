"""Where generated traffic goes, and how fast.

    with KafkaOutput(bootstrap, TopicNames(prefix)) as output:
        summary = send(Traffic(config).events(), output, Pacer(config.start, speed=600))

`Pacer` turns delivery times into wall-clock send times: `speed` compresses event time
(600: ten minutes of traffic per second; none: as fast as possible), but nothing is sent
before it happens, so traffic that starts in the past catches up and then goes on live;
`rate` caps events per second.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from pipeline.generator.traffic import GeneratedEvent
from pipeline.topics import CHANNELS, TopicNames


class Output(Protocol):
    def write(self, event: GeneratedEvent) -> None: ...

    def close(self) -> None: ...


class KafkaOutput:
    """Each event to its channel's raw topic, keyed by the visitor's cookie id."""

    def __init__(self, bootstrap_servers: str, names: TopicNames) -> None:
        self.names = names
        self._topics = {channel: names.raw(channel) for channel in CHANNELS}
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id="journeys-generator",
            linger_ms=20,
            batch_size=256 * 1024,
            acks="all",
        )
        self._sent: list[FutureRecordMetadata] = []

    def write(self, event: GeneratedEvent) -> None:
        sent = self._producer.send(self._topics[event.channel], key=event.key, value=event.value)
        self._sent.append(sent)
        if len(self._sent) >= 10_000:  # (a live generator may never flush)
            self._check([future for future in self._sent if future.is_done])
            self._sent = [future for future in self._sent if not future.is_done]

    def flush(self) -> None:
        """Wait until the broker has every event written so far; KafkaError naming how
        many it refused, and why, if it did not take them all."""
        self._producer.flush()
        sent, self._sent = self._sent, []
        self._check(sent)

    @staticmethod
    def _check(sent: list[FutureRecordMetadata]) -> None:
        failed = [future.exception for future in sent if future.failed()]
        if failed:
            raise KafkaError(
                f"the broker did not take {len(failed)} of {len(sent)} events: {failed[0]!r}"
            )

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileOutput:
    """One JSON Lines file per channel (`<dir>/<channel>.jsonl`), one raw record a line."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._files: dict[str, IO[bytes]] = {}

    def write(self, event: GeneratedEvent) -> None:
        handle = self._files.get(event.channel)
        if handle is None:
            handle = self._files[event.channel] = (self.directory / f"{event.channel}.jsonl").open(
                "wb"
            )
        handle.write(event.value + b"\n")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class Pacer:
    """When each event may leave, in wall-clock seconds."""

    def __init__(
        self,
        start: datetime,
        speed: float | None = None,
        rate: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.start = start
        self.speed = speed
        self.interval = 1.0 / rate if rate else 0.0
        self.clock = clock
        self.began = clock()
        self._next_slot = self.began

    def send_time(self, deliver_at: datetime) -> float:
        """The earliest wall-clock time `deliver_at` may be sent (and take a rate slot)."""
        due = self.began
        if self.speed:
            due = self.began + (deliver_at - self.start).total_seconds() / self.speed
        due = max(due, deliver_at.timestamp())  # never before it happens: live from now on
        if self.interval:
            due = max(due, self._next_slot)
            self._next_slot = due + self.interval
        return due

    def wait(self, deliver_at: datetime) -> None:
        delay = self.send_time(deliver_at) - self.clock()
        if delay > 0.002:
            time.sleep(delay)


@dataclass
class SendSummary:
    """What was sent."""

    events: int = 0
    malformed: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None


def send(
    events: Iterable[GeneratedEvent],
    output: Output,
    pacer: Pacer | None = None,
    limit: int | None = None,
    on_event: Callable[[SendSummary], None] | None = None,
) -> SendSummary:
    """Send events in delivery order, paced; stop after `limit` events if given."""
    summary = SendSummary()
    for event in events:
        if limit is not None and summary.events >= limit:
            break
        if pacer is not None:
            pacer.wait(event.deliver_at)
        output.write(event)
        summary.events += 1
        summary.malformed += event.malformed
        summary.by_channel[event.channel] += 1
        summary.first = summary.first or event.event_time
        summary.last = event.event_time
        if on_event is not None:
            on_event(summary)
    return summary
