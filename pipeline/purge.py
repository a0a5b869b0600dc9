"""Clearing forgotten customers from the pipeline's topics (`journeys forget`, once the
workers have forgotten them). Kafka deletes no single record, only a partition's records
before an offset (DeleteRecords), so:

    raw topics, journeys.internal  a partition holding a record that names them loses
                                   every record the pipeline has read there (all of
                                   them processed, what they made durable): raw topics
                                   are a transport; rebuild from exports (`journeys
                                   replay`), not from them
    touchpoints.dead-letter        the others' dead letters up to their last one that
                                   `journeys dlq replay` has not sent back yet are
                                   appended again (marked: the sink has their rows),
                                   the workers delete the rows of theirs, then every
                                   record up to it goes
    the state changelog            compacted: the workers' tombstones replace their
                                   values, and the broker's log cleaner removes the
                                   older ones from its segments

A record names them when it holds one of their identifiers, identifier values or
customer ids as a whole JSON string (`"ck-laptop"`, `"email:<hash>"`), or, for a raw
record the normaliser accepts, when one of its identifiers is theirs.

    with TopicPurge(bootstrap, names, group, normalizer) as purge:
        purge.wait_read(purge.ends(purge.pipeline_topics()), timeout=300)
        summary = purge.run(Subject.of(keys, customers, given), forget_rows, timeout=300)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.errors import JourneysError
from pipeline.ingest.deadletters import H_REWRITTEN_FROM
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.replay import replay_group
from pipeline.journeys.identity import identifier_keys
from pipeline.topics import TopicNames
from schemas.touchpoint import Channel, Touchpoint

#: Rounds a purge takes at most (each waits for the workers, then clears what came).
MAX_ROUNDS = 10


class PurgeError(JourneysError):
    """The topics could not be cleared (the pipeline is behind, or the broker refused)."""


@dataclass(frozen=True)
class Subject:
    """Whom to clear: their identifier keys, and the strings that name them."""

    keys: frozenset[str]
    needles: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: Iterable[str], customers: Iterable[str], given: Iterable[str]) -> Subject:
        """From identifier keys (`kind:value`), customer ids and values as typed."""
        known = frozenset(keys)
        words = {*known, *customers, *given, *(key.partition(":")[2] for key in known)}
        return cls(known, tuple(sorted(orjson.dumps(word) for word in words if word)))

    def in_bytes(self, blobs: Iterable[bytes | None]) -> bool:
        return any(needle in blob for blob in blobs if blob for needle in self.needles)


@dataclass
class PurgeSummary:
    """What a purge found and did."""

    found: Counter[str] = field(default_factory=Counter)  # topic -> records naming them
    deleted: Counter[str] = field(default_factory=Counter)  # topic -> records deleted
    appended: int = 0  # others' dead letters appended again


class TopicPurge:
    """The Kafka side of forgetting, for the pipeline's topics under one prefix."""

    def __init__(
        self, bootstrap: str, names: TopicNames, group: str, normalizer: Normalizer
    ) -> None:
        servers = bootstrap.split(",")
        self.names, self.group, self.normalizer = names, group, normalizer
        self.channels = {names.raw(channel): channel for channel in Channel}
        self.consumer = KafkaConsumer(
            bootstrap_servers=servers, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self.admin = KafkaAdminClient(bootstrap_servers=servers)
        self.producer = KafkaProducer(bootstrap_servers=servers, acks="all")

    def __enter__(self) -> TopicPurge:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.producer.close()
        self.consumer.close()
        self.admin.close()

    def pipeline_topics(self) -> list[str]:
        """The topics the pipeline's agent reads: raw topics and journeys.internal."""
        return [*self.channels, self.names.internal]

    def ends(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """The end offset now of every partition of `topics`."""
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        return dict(self.consumer.end_offsets(partitions)) if partitions else {}

    def wait_read(
        self, ends: dict[TopicPartition, int], timeout: float
    ) -> dict[TopicPartition, int]:
        """Wait until the pipeline's group has read (and committed) every partition up to
        `ends`; PurgeError after `timeout` seconds. Returns where each partition begins."""
        begins: dict[TopicPartition, int] = self.consumer.beginning_offsets(list(ends))
        deadline = time.monotonic() + timeout
        while True:
            committed = self._committed(self.group)
            behind = [tp for tp, end in ends.items() if begins[tp] < end > committed.get(tp, 0)]
            if not behind:
                return begins
            if time.monotonic() >= deadline:
                first = behind[0]
                raise PurgeError(
                    f"the pipeline (group {self.group}) has not read {len(behind)} "
                    f"partition(s) to their end in {timeout:g} s (first: {first.topic} "
                    f"partition {first.partition}): is a worker running?"
                )
            time.sleep(1)

    def run(
        self,
        subject: Subject,
        forget_rows: Callable[[list[tuple[str, int, int]]], None],
        timeout: float,
    ) -> PurgeSummary:
        """Clear `subject` from the raw, internal and dead-letter topics; `forget_rows`
        must delete the `dead_letters` rows at these (topic, partition, offset) first.
        Rounds until one finds nothing new: the workers' forgetting may still send work
        naming them to each other (each step stops where it finds nothing left)."""
        summary = PurgeSummary()
        scanned: dict[TopicPartition, int] = {}
        for _ in range(MAX_ROUNDS):
            if not self._round(subject, forget_rows, timeout, scanned, summary):
                return summary
        raise PurgeError(
            f"records naming them still arrived after {MAX_ROUNDS} rounds: is something "
            "still sending their events?"
        )

    def _round(
        self,
        subject: Subject,
        forget_rows: Callable[[list[tuple[str, int, int]]], None],
        timeout: float,
        scanned: dict[TopicPartition, int],
        summary: PurgeSummary,
    ) -> bool:
        """Clear what arrived since the last round (`scanned`: where each partition's
        scan ended); whether anything named them."""
        dead_letter = self.names.dead_letter
        ends = self.ends([*self.pipeline_topics(), dead_letter])
        begins = self.wait_read(ends, timeout)  # everything in them processed and durable
        cut: dict[TopicPartition, int] = {}
        letters: dict[TopicPartition, list[int]] = {}
        for tp, end in ends.items():
            channel = self.channels.get(tp.topic)
            start, scanned[tp] = max(begins[tp], scanned.get(tp, 0)), end
            found = [
                record.offset
                for record in self._records(tp, start, end, timeout)
                if self._names(subject, channel, record)
            ]
            if not found:
                continue
            summary.found[tp.topic] += len(found)
            if tp.topic == dead_letter:
                letters[tp], cut[tp] = found, found[-1] + 1
                summary.appended += self._append_others(
                    tp, set(found), begins[tp], cut[tp], timeout
                )
            else:
                cut[tp] = end
        if letters:
            forget_rows([(tp.topic, tp.partition, o) for tp, offs in letters.items() for o in offs])
        if cut:
            self.admin.delete_records(cut, timeout_ms=int(timeout * 1000))
        for tp, offset in cut.items():
            summary.deleted[tp.topic] += offset - begins[tp]
        return bool(cut)

    def _committed(self, group: str) -> dict[TopicPartition, int]:
        offsets = self.admin.list_group_offsets(group).get(group, {})
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    def _names(self, subject: Subject, channel: Channel | None, record: Any) -> bool:
        headers = [value for _, value in record.headers or ()]
        if subject.in_bytes([record.key, record.value, *headers]):
            return True
        if channel is None:
            return False
        raw = RawRecord(
            record.topic, record.partition, record.offset, record.key, record.value,
            list(record.headers or ()),
        )  # fmt: skip
        made = self.normalizer(channel, raw, datetime.now(UTC))
        return isinstance(made, Touchpoint) and not subject.keys.isdisjoint(
            identifier_keys(made.identities)
        )

    def _records(self, tp: TopicPartition, start: int, end: int, timeout: float) -> Iterator[Any]:
        """The records of `tp` from `start` up to `end` (exclusive)."""
        if start >= end:
            return
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        deadline = time.monotonic() + timeout
        while self.consumer.position(tp) < end:
            if time.monotonic() >= deadline:
                raise PurgeError(f"could not read {tp.topic} partition {tp.partition} "
                                 f"up to offset {end} in {timeout:g} s")  # fmt: skip
            for batch in self.consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    if record.offset >= end:
                        return
                    yield record

    def _append_others(
        self, tp: TopicPartition, theirs: set[int], begin: int, cut: int, timeout: float
    ) -> int:
        """Append the others' dead letters of `tp` before `cut` that replay has not sent
        back yet; how many."""
        replayed = self._committed(replay_group(self.group)).get(tp, 0)
        sent = []
        for record in self._records(tp, max(begin, replayed), cut, timeout):
            if record.offset in theirs:
                continue
            origin = f"{record.partition}/{record.offset}".encode()
            headers = [*(record.headers or ()), (H_REWRITTEN_FROM, origin)]
            sent.append(
                self.producer.send(
                    tp.topic, key=record.key, value=record.value, headers=headers,
                    partition=tp.partition,
                )
            )  # fmt: skip
        self.producer.flush(timeout=timeout)
        for future in sent:
            future.get(timeout=timeout)  # raises if the broker did not take it
        return len(sent)
