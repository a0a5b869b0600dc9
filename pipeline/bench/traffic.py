"""The benchmark's events, all from the demo generator: a fixed, deterministic set of
history (event times in January 2026) produced to a prefix's raw topics in bulk before
anything consumes, and live traffic (event time = wall clock) sent as it is delivered.

    events = bench_events(50_000, seed=42)                  # same seed, same events
    produce_all(bootstrap, TopicNames("b1."), events, partitions=8)
    live = live_events(10_000, rate=500, seed=43)           # event time = wall clock
    sent = produce_live(bootstrap, names, live)             # each at its delivery time

The generator's defaults are kept (bots, late deliveries and 0.2 % broken records): every
record counts as processed when it reaches either `touchpoints` or `dead_letters`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.generator.journey import HOURS
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


#: Event time the live traffic's generator runs before the records that are sent. Those
#: earlier records are never sent: the customers who arrived in it are mid-journey when
#: sending starts, so the event rate is near its level for the rest of the window from the
#: first second (from an empty start it climbs for about 5 minutes, as first visits fill
#: up), and records delivered late (20 to 240 s after their event time, still within the
#: allowed lateness) come in their share from the start.
WARM_UP = timedelta(minutes=4)

#: The probe that sizes live traffic: customers arriving per second, and seconds of
#: deliveries counted after the warm-up.
PROBE_ARRIVALS = 10.0
PROBE_SECONDS = 60.0

#: A live event set whose rate is further than this from the one asked for is generated
#: again, with customers_per_day corrected (the probe's hour of day can differ).
RATE_TOLERANCE = 0.15


def _now() -> datetime:
    return datetime.now(UTC)


def delivered(config: TrafficConfig, opens: datetime, closes: datetime) -> list[GeneratedEvent]:
    """The events of `config`'s traffic delivered in [opens, closes), in delivery order."""
    return [event for event in Traffic(config).events() if opens <= event.deliver_at < closes]


@dataclass(frozen=True)
class LiveSize:
    """How much traffic gives a rate: customers per day, and generation cost."""

    customers_per_day: float
    seconds_per_customer_day: float  # generating one customer/day over one second of events

    def generate_seconds(self, span: timedelta) -> float:
        return self.seconds_per_customer_day * self.customers_per_day * span.total_seconds()


def live_size(rate: float, seed: int, opens: datetime) -> LiveSize:
    """customers_per_day for `rate` events per second delivered after the warm-up, from a
    small probe of the same hour of day (events per second scale with customers per day)."""
    start = opens - WARM_UP
    probe = PROBE_ARRIVALS * 3600 * sum(HOURS) / HOURS[start.hour]  # weekends: a bit more
    closes = opens + timedelta(seconds=PROBE_SECONDS)
    began = time.monotonic()
    events = delivered(
        TrafficConfig(start=start, end=closes, seed=seed, customers_per_day=probe), opens, closes
    )
    spent = time.monotonic() - began
    per_second = max(len(events), 1) / PROBE_SECONDS
    return LiveSize(probe * rate / per_second, spent / probe / (closes - start).total_seconds())


def live_events(
    count: int, rate: float, seed: int, *, not_before: float = 0.0,
    clock: Callable[[], datetime] = _now,
) -> list[GeneratedEvent]:  # fmt: skip
    """`count` events of the generator's live traffic (event time = wall clock): the
    traffic of customers arriving from a few minutes ago on, at `rate` records per second,
    as delivered from a moment just after they are generated (and not before the epoch
    second `not_before`). Send each at its `deliver_at` (`produce_live`): its event time is
    then the wall clock less the channel's delivery delay (0.05 to 2 s; 2 % come 20 to
    240 s late, within the allowed lateness). The generator's options are those of any
    other run (bots, broken and late records), only `customers_per_day` is chosen so that
    its event-time rate is `rate`."""
    seconds = count / rate
    size = live_size(rate, seed, clock())
    for _ in range(3):
        # Start far enough ahead that generating is done by then; what is due before it
        # is done is skipped, so the window is generous.
        window = timedelta(seconds=seconds * 1.25 + 5)
        lead = 1.0 + 1.5 * size.generate_seconds(WARM_UP + window)
        opens = max(clock() + timedelta(seconds=lead), datetime.fromtimestamp(not_before, UTC))
        closes = opens + window + timedelta(seconds=lead)
        config = TrafficConfig(
            start=opens - WARM_UP, end=closes, seed=seed, customers_per_day=size.customers_per_day
        )
        began = time.monotonic()
        events = delivered(config, opens, closes)
        spent = time.monotonic() - began
        cost = spent / size.customers_per_day / (closes - config.start).total_seconds()
        got = len(events) / (closes - opens).total_seconds()
        due = clock()
        live = [event for event in events if event.deliver_at >= due][:count]
        if abs(got / rate - 1) <= RATE_TOLERANCE and len(live) == count:
            return live
        size = LiveSize(size.customers_per_day * rate / max(got, 1e-3), max(cost, 1e-12))
    return live


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


def produce_live(
    bootstrap: str, names: TopicNames, events: list[GeneratedEvent],
    go_on: Callable[[int], bool] | None = None,
) -> list[Sent]:  # fmt: skip
    """Send each event when the wall clock reaches its delivery time (`deliver_at`: event
    time plus the channel's delay), recording its send time and offset; stop before the
    first event index for which `go_on(index)` is false."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, client_id="journeys-bench", linger_ms=0, acks="all"
    )
    topics = {channel: names.raw(channel) for channel in CHANNELS}
    pending = []
    try:
        for index, event in enumerate(events):
            if go_on is not None and not go_on(index):
                break
            delay = event.deliver_at.timestamp() - time.time()
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
