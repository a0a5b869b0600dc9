"""Where replayed rows go: the raw import topic, and the dead-letter topic for rejects.

The producer batches on its own (linger, batch size) and waits for every broker ack
(`acks=all`). Rows count as sent only when Kafka has acknowledged them; `close()` waits
for the last ones and reports what was delivered and what failed.

Usage:
    sink = KafkaSink(bootstrap, names.raw("import"), names.dead_letter)
    sink.send(key, value); sink.dead(letter); report = sink.close()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.ingest.deadletters import DeadLetter


@dataclass
class Delivery:
    """What Kafka acknowledged, and what it refused."""

    sent: int = 0
    dead: int = 0
    failed: int = 0
    first_error: str | None = None


class Sink(Protocol):
    """Where rows and rejected rows go."""

    def send(self, key: bytes | None, value: bytes) -> None: ...
    def dead(self, letter: DeadLetter) -> None: ...
    def close(self) -> Delivery: ...


class CountingSink:
    """Sends nothing (`--dry-run`); counts as if everything were delivered."""

    def __init__(self) -> None:
        self.delivery = Delivery()

    def send(self, key: bytes | None, value: bytes) -> None:
        self.delivery.sent += 1

    def dead(self, letter: DeadLetter) -> None:
        self.delivery.dead += 1

    def close(self) -> Delivery:
        return self.delivery


class KafkaSink:
    """kafka-python producer to the raw import topic and the dead-letter topic."""

    def __init__(self, bootstrap_servers: str, topic: str, dead_letter_topic: str) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.delivery = Delivery()
        self._lock = threading.Lock()
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id="journeys-replay",
            acks="all",
            linger_ms=20,
            batch_size=256 * 1024,
            max_request_size=4 * 1024 * 1024,
        )

    def _count(self, field: str) -> Any:
        def done(_: object) -> None:
            with self._lock:
                setattr(self.delivery, field, getattr(self.delivery, field) + 1)

        return done

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self.delivery.failed += 1
            self.delivery.first_error = self.delivery.first_error or repr(error)

    def send(self, key: bytes | None, value: bytes) -> None:
        future = self._producer.send(self.topic, key=key, value=value)
        future.add_callback(self._count("sent")).add_errback(self._failed)

    def dead(self, letter: DeadLetter) -> None:
        future = self._producer.send(
            self.dead_letter_topic,
            key=letter.raw_key or None,
            value=letter.raw_value,
            headers=letter.headers(),
        )
        future.add_callback(self._count("dead")).add_errback(self._failed)

    def close(self, timeout: float = 120) -> Delivery:
        try:
            self._producer.flush(timeout=timeout)
        finally:
            self._producer.close(timeout=timeout)
        with self._lock:
            return Delivery(**vars(self.delivery))
