"""The benchmark's events: a fixed, deterministic set from the demo generator, produced
to a prefix's raw topics in bulk (before anything consumes) or at a steady rate.

    events = bench_events(50_000, seed=42)                  # same seed, same events
    produce_all(bootstrap, TopicNames("b1."), events, partitions=8)
    sent = produce_paced(bootstrap, names, more, rate=500)  # (topic, partition, offset) -> time

The generator's defaults are kept (bots, late deliveries and 0.2 % broken records): every
record counts as processed when it reaches either `touchpoints` or `dead_letters`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.generator.output import KafkaOutput
from pipeline.generator.traffic import GeneratedEvent, Traffic, TrafficConfig
from pipeline.kafka_admin import ensure_topics
from pipeline.topics import CHANNELS, TopicNames

#: Event time of the first arrival: a fixed Monday, so the same seed gives the same events
#: (timestamps included) on every machine, old enough to be history, young enough to be
#: accepted (JOURNEYS_INGEST_MAX_EVENT_AGE is five years).
BENCH_START = datetime(2026, 1, 5, tzinfo=UTC)

#: Arrivals per day of event time: dense enough that many customers are active at once.
CUSTOMERS_PER_DAY = 20_000.0


def bench_events(count: int, seed: int = 42, start: datetime = BENCH_START) -> list[GeneratedEvent]:
    """The first `count` events of the generator's traffic for `seed`, from `start`."""
    config = TrafficConfig(start=start, end=None, seed=seed, customers_per_day=CUSTOMERS_PER_DAY)
    return list(itertools.islice(Traffic(config).events(), count))


def after(events: list[GeneratedEvent], gap: timedelta) -> datetime:
    """A start for more traffic, on the hour at least `gap` after `events` end."""
    last = max((event.event_time for event in events), default=BENCH_START)
    return last.replace(minute=0, second=0, microsecond=0) + gap + timedelta(hours=1)


def raw_topics(names: TopicNames, partitions: int, bootstrap: str) -> list[str]:
    """Create a prefix's raw topics (the pipeline's layout); their names."""
    topics = names.all_raw()
    ensure_topics(bootstrap, topics, partitions, 1)
    return topics


def produce_all(
    bootstrap: str, names: TopicNames, events: list[GeneratedEvent], partitions: int
) -> float:
    """Send every event to its raw topic and wait for the broker; seconds it took."""
    raw_topics(names, partitions, bootstrap)
    began = time.monotonic()
    with KafkaOutput(bootstrap, names) as output:
        for event in events:
            output.write(event)
    return time.monotonic() - began


def records_per_topic(bootstrap: str, starts: tuple[str, ...]) -> dict[str, int]:
    """Records in every topic whose name starts with one of `starts` (end offsets summed;
    the run's topics are new, so they start at 0)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        counts = {}
        for topic in sorted(consumer.topics()):
            if topic.startswith(starts):
                partitions = [
                    TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
                ]
                counts[topic] = sum(consumer.end_offsets(partitions).values())
        return counts
    finally:
        consumer.close()


def latest_values(
    bootstrap: str, topic: str, timeout: float = 60, contains: bytes = b""
) -> tuple[int, int]:
    """(keys, bytes of keys and latest values) of a changelog topic: what a key-value store
    rebuilt from it holds, without the store's own overhead. Only keys containing
    `contains` count (e.g. b"|c|": the pipeline's customer records)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    sizes: dict[bytes, int] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            consumer.position(tp) < ends[tp] for tp in partitions
        ):
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for record in records:
                    key = record.key or b""
                    if contains not in key:
                        continue
                    if record.value is None:
                        sizes.pop(key, None)  # a deletion
                    else:
                        sizes[key] = len(key) + len(record.value)
    finally:
        consumer.close()
    return len(sizes), sum(sizes.values())


def group_lag(bootstrap: str, group: str) -> dict[str, int]:
    """Per topic, records the consumer group has not committed yet (only topics it has
    committed offsets for); a stalled run's lag says which hop stopped."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="journeys-bench")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(group)[group]
        ends = consumer.end_offsets(list(committed))
        lag: dict[str, int] = {}
        for tp, meta in committed.items():
            behind = ends.get(tp, 0) - max(meta.offset, 0)
            if behind > 0:
                lag[tp.topic] = lag.get(tp.topic, 0) + behind
        return lag
    finally:
        consumer.close()
        admin.close()


@dataclass(frozen=True, slots=True)
class Sent:
    """Where one paced record went, and when (time.time()) it was handed to the producer."""

    topic: str
    partition: int
    offset: int
    sent_at: float
    malformed: bool


def produce_paced(
    bootstrap: str, names: TopicNames, events: list[GeneratedEvent], rate: float
) -> list[Sent]:
    """Send events at `rate` per second, recording each one's send time and offset."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, client_id="journeys-bench", linger_ms=0, acks="all"
    )
    topics = {channel: names.raw(channel) for channel in CHANNELS}
    pending = []
    began = time.time()
    try:
        for index, event in enumerate(events):
            delay = began + index / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            sent_at = time.time()
            future = producer.send(topics[event.channel], key=event.key, value=event.value)
            pending.append((future, sent_at, event.malformed))
        producer.flush(timeout=120)
    finally:
        producer.close()
    sent = []
    for future, sent_at, malformed in pending:
        meta = future.get(timeout=60)
        sent.append(Sent(meta.topic, meta.partition, meta.offset, sent_at, malformed))
    return sent
