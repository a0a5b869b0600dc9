"""Latency at a fixed offered load: from handing a raw record to the producer to
(a) its touchpoint row being in ClickHouse and (b) its session / stage transition being
emitted by the journey engine.

    marks = OutputMarks.now(bootstrap, [names.sessions, names.transitions])
    sent = produce_paced(...)                                # per record: offset, send time
    ... wait until the pipeline stored them ...
    touchpoints = touchpoint_latencies(rows, sent)           # seconds, per record
    emitted = emitted_latencies(bootstrap, marks, event_sent)  # {"sessions": [...], ...}

Resolution: (a) uses the row's `_inserted_at` (ClickHouse `now64(3)` when the insert
runs, 1 ms); (b) the Kafka timestamp the worker's producer gives the output record
(CreateTime, 1 ms). Both clocks are this machine's wall clock, as is the send time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from pipeline.bench.traffic import Sent


@dataclass(frozen=True)
class OutputMarks:
    """End offsets of output topics before the paced records were sent."""

    offsets: dict[TopicPartition, int]

    @classmethod
    def now(cls, bootstrap: str, topics: Iterable[str]) -> OutputMarks:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        try:
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            return cls(dict(consumer.end_offsets(partitions)))
        finally:
            consumer.close()


def sent_by_event(rows: Iterable[Mapping[str, Any]], sent: Iterable[Sent]) -> dict[str, float]:
    """event id -> send time of its raw record, for the paced records among touchpoint
    rows (which carry raw_topic, raw_partition, raw_offset and event_id)."""
    sent_at = {(s.topic, s.partition, s.offset): s.sent_at for s in sent}
    found: dict[str, float] = {}
    for row in rows:
        at = sent_at.get((row["raw_topic"], int(row["raw_partition"]), int(row["raw_offset"])))
        if at is not None:
            found.setdefault(str(row["event_id"]), at)
    return found


def touchpoint_latencies(
    rows: Iterable[Mapping[str, Any]], sent: Iterable[Sent]
) -> dict[str, float]:
    """event id -> seconds from sending its raw record to its row's insert (`inserted`,
    seconds since the epoch), for the rows of paced records."""
    rows = list(rows)
    sent_at = sent_by_event(rows, sent)
    return {
        str(row["event_id"]): float(row["inserted"]) - sent_at[str(row["event_id"])]
        for row in rows
        if str(row["event_id"]) in sent_at
    }


def emitted_latencies(
    bootstrap: str,
    marks: OutputMarks,
    event_sent: Mapping[str, float],
    timeout: float = 60,
) -> dict[str, list[float]]:
    """Per output topic: seconds from sending a raw record to the first record it caused.

    Sessions count when a touchpoint opened or updated them (`exit_event_id`, on time);
    transitions when a touchpoint made a customer enter or advance (`event_id`). Closings
    and drop-offs follow the watermark, not a record, and are left out.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    found: dict[str, dict[str, float]] = {}
    try:
        partitions = list(marks.offsets)
        consumer.assign(partitions)
        for partition, offset in marks.offsets.items():
            consumer.seek(partition, offset)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            consumer.position(partition) < ends[partition] for partition in partitions
        ):
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                first = found.setdefault(tp.topic, {})
                for record in records:
                    event_id = _cause(json.loads(record.value))
                    if event_id is not None and event_id in event_sent and event_id not in first:
                        first[event_id] = record.timestamp / 1000 - event_sent[event_id]
    finally:
        consumer.close()
    return {topic: list(values.values()) for topic, values in found.items()}


def _cause(record: Mapping[str, Any]) -> str | None:
    """The event id of the touchpoint that made the engine emit `record`, if one did."""
    if record.get("is_late"):
        return None
    if "status" in record:  # a session version
        return record["exit_event_id"] if record["status"] in ("opened", "updated") else None
    if record.get("kind") in ("entered", "advanced"):  # a stage transition
        return str(record["event_id"])
    return None


def percentiles(values: list[float], points: Iterable[float] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles, e.g. {"p50": ..., "p95": ..., "p99": ...}."""
    ordered = sorted(values)
    if not ordered:
        return {}
    result = {}
    for point in points:
        rank = min(len(ordered), max(1, math.ceil(point / 100 * len(ordered))))
        result[f"p{point:g}"] = ordered[rank - 1]
    return result
