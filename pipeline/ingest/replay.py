"""Replaying dead letters: send them back through their source topic, once.

A consumer group of its own (`<consumer group>.dlq-replay`) remembers how far replay has
read the dead-letter topic, so each dead letter is replayed at most once per run that
commits. Each replayed record carries `journeys.replay.count` + 1; if it fails again its
new dead letter keeps that count, and records at `max_replays` are not sent again: a
record that can never pass cannot loop.

Corrected payloads can be supplied as JSON Lines, one per dead letter:
    {"source_topic": "touchpoints.raw.web", "source_partition": 0, "source_offset": 17,
     "value": {...the corrected raw event...}}

Usage:
    summary = replay_dead_letters(bootstrap, names.dead_letter, group, dry_run=True)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from pipeline.errors import ConfigError, ReplayError
from pipeline.ingest.deadletters import H_REPLAY_COUNT, DeadLetter, parse_dead_letter

Position = tuple[str, int, int]


def replay_group(consumer_group: str) -> str:
    """The consumer group that remembers how far replay has read the dead letters."""
    return f"{consumer_group}.dlq-replay"


@dataclass
class ReplaySummary:
    """What a replay read and did."""

    read: int = 0
    replayed: int = 0
    corrected: int = 0
    gave_up: int = 0  # at max_replays already
    not_replayable: int = 0  # no known source topic
    by_topic: dict[str, int] = field(default_factory=dict)


def load_fixes(path: Path) -> dict[Position, bytes]:
    """Corrected payloads by (source topic, partition, offset) from a JSON Lines file."""
    fixes: dict[Position, bytes] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            position = (
                str(item["source_topic"]),
                int(item["source_partition"]),
                int(item["source_offset"]),
            )
            value = item["value"]
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(
                f"{path}:{number}: expected source_topic, source_partition, source_offset "
                f"and value: {error}"
            ) from error
        fixes[position] = (value if isinstance(value, str) else json.dumps(value)).encode()
    return fixes


def replay_dead_letters(
    bootstrap_servers: str,
    dead_letter_topic: str,
    group_id: str,
    *,
    dry_run: bool = False,
    max_replays: int = 3,
    fixes: dict[Position, bytes] | None = None,
) -> ReplaySummary:
    """Replay every dead letter not replayed yet; with `dry_run`, only count."""
    fixes = fixes or {}
    summary = ReplaySummary()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    producer = None if dry_run else KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    sent: list[tuple[Position, FutureRecordMetadata]] = []
    try:
        end = _assign_all(consumer, dead_letter_topic)
        for letter in _dead_letters_until(consumer, end):
            summary.read += 1
            if letter.source_topic == "unknown" or letter.source_offset < 0:
                summary.not_replayable += 1
                continue
            if letter.replay_count >= max_replays:
                summary.gave_up += 1
                continue
            position = (letter.source_topic, letter.source_partition, letter.source_offset)
            value = fixes.get(position, letter.raw_value)
            summary.corrected += position in fixes
            summary.replayed += 1
            summary.by_topic[letter.source_topic] = summary.by_topic.get(letter.source_topic, 0) + 1
            if producer is not None:
                future = producer.send(
                    letter.source_topic,
                    key=letter.raw_key or None,
                    value=value,
                    headers=[(H_REPLAY_COUNT, str(letter.replay_count + 1).encode())],
                )
                sent.append((position, future))
        if producer is not None:
            with contextlib.suppress(KafkaError):  # each send's own result is checked next
                producer.flush(timeout=60)
            _check_sent(sent)
            # Only after every replayed record is on its topic, and exactly up to where
            # this run read: dead letters that arrived meanwhile wait for the next run.
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in end.items()})
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close()
    return summary


def _check_sent(sent: list[tuple[Position, FutureRecordMetadata]]) -> None:
    """Raise ReplayError unless the broker took every record sent."""
    failed = []
    for position, future in sent:
        try:
            future.get(timeout=60)
        except KafkaError as error:
            failed.append((position, error))
    if failed:
        (topic, partition, offset), first = failed[0]
        raise ReplayError(
            f"{len(failed)} of {len(sent)} dead letters could not be sent back (first: "
            f"{topic} partition {partition} offset {offset}: {first}); nothing was marked "
            "replayed: run it again once the cause is fixed (records sent twice are "
            "applied once)"
        )


def _assign_all(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    """Assign every partition of `topic`; returns their end offsets now."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise ConfigError(
            f"the dead-letter topic {topic} does not exist (check KAFKA_TOPIC_PREFIX)"
        )
    assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
    consumer.assign(assigned)
    return dict(consumer.end_offsets(assigned))


def _dead_letters_until(
    consumer: KafkaConsumer, end: dict[TopicPartition, int]
) -> Iterator[DeadLetter]:
    """Dead letters from the group's committed position up to `end`."""
    remaining = {tp for tp, offset in end.items() if consumer.position(tp) < offset}
    while remaining:
        batches = consumer.poll(timeout_ms=2000, max_records=1000)
        if not batches and all(consumer.position(tp) >= end[tp] for tp in remaining):
            break
        for tp, records in batches.items():
            for record in records:
                if record.offset < end[tp]:
                    yield parse_dead_letter(record.key, record.value, record.headers)
            if consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
