"""The worker's one agent: raw channel records and internal envelopes in, ClickHouse rows
and changelog records out, inputs acknowledged only once their effects are durable.

    touchpoints.raw.<channel> (14 topics) + journeys.internal, all co-partitioned
        -> batches (noack) -> PartitionPipeline of each record's partition
        -> journeys.internal (one envelope per destination partition per flush)

    every JOURNEYS_SINK_BATCH_SECONDS, and before a revocation completes:
        1. ClickHouse: one insert per table for the whole worker (token: the flush), then
           the deletes of whatever was forgotten (pipeline.journeys.forgetting)
        2. Kafka: dead letters and window reports, then one changelog record per changed
           key (partition p's records to partition p), then the envelopes for other
           partitions, each step awaited
        3. ack every input taken before step 1

A crash between 1 and 2 replays inputs against the older state: the same rows again,
collapsed by their ReplacingMergeTree keys and versions. A crash between 2 and 3 replays
inputs against a state that has applied them: the engine's event-id check drops them.
State is never durable before the outputs it implies.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from aiokafka.structs import RecordMetadata
from faust.types import TP

from pipeline.ingest.normalize import RawRecord
from pipeline.journeys.pipeline import Flush, PartitionPipeline, PipelineConfig
from pipeline.journeys.store import PartitionState
from pipeline.settings import SinkSettings
from pipeline.sink.clickhouse import RowWriter
from pipeline.sink.forget import RowEraser
from pipeline.telemetry import Telemetry
from pipeline.topics import TopicNames
from schemas.touchpoint import Channel

log = logging.getLogger(__name__)

#: Longest a batch waits to fill: forwarded touchpoints wait at most this long per hop.
TAKE_WITHIN = 0.05


def raw_record(event: Any) -> RawRecord:
    """The Kafka record behind a Faust event."""
    message = event.message
    headers = message.headers
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    return RawRecord(
        message.topic, message.partition, message.offset, event.key, event.value, pairs
    )


def compaction_bound(within: timedelta) -> dict[str, str]:
    """Topic configs under which a compacted changelog drops a key's older values from
    disk within about twice `within` while it is written to: segments roll at least that
    often, and a closed one is compacted at most that long after."""
    millis = str(int(within.total_seconds() * 1000))
    return {"segment.ms": millis, "max.compaction.lag.ms": millis}


class FlushFailedError(RuntimeError):
    """A flush was refused because an earlier one failed (see `PipelineRunner.flush`)."""


@dataclass
class FlushStats:
    """What the flushes have made durable (read by tests)."""

    # (topic, partition) -> the highest input offset acknowledged after its flush.
    durable: dict[tuple[str, int], int] = field(default_factory=dict)


class PipelineRunner:
    """The worker's partition pipelines, their batches and their flushes."""

    def __init__(
        self,
        app: faust.App,
        names: TopicNames,
        config: PipelineConfig,
        writers: Mapping[str, RowWriter],
        pace: SinkSettings,
        *,
        eraser: RowEraser,
        erase_within: timedelta,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.app = app
        self.telemetry = telemetry or Telemetry()
        self.names = names
        self.config = config
        self.writers = writers
        self.eraser = eraser
        self.pace = pace
        partitions = config.router.partitions
        # Faust's table is the changelog and the recovery: partition p's records are in
        # its store under keys starting with "p|" (pipeline.journeys.store).
        self.table = app.Table(
            "state", partitions=partitions, key_type=str, value_type=bytes,
            extra_topic_configs=compaction_bound(erase_within),
        )  # fmt: skip
        self.channels = {names.raw(channel): channel for channel in Channel}
        self.internal = names.internal
        self.pipelines: dict[int, PartitionPipeline] = {}
        self.unacked: list[Any] = []
        self.stream: Any = None
        self.batch_lock = asyncio.Lock()  # a batch and a flush's hand-over exclude each other
        self.flush_lock = asyncio.Lock()  # one flush at a time, in order
        self.active = False  # False between a revocation and the next assignment
        self.stats = FlushStats()
        self.flushed_at: float | None = None  # time.monotonic() of the last flush done
        self.failed_flush: BaseException | None = None  # no flush may follow a failed one

    def register(self) -> None:
        topics = [*self.channels, self.internal]
        source = self.app.topic(*topics, key_type=bytes, value_type=bytes)
        self.app.agent(source, name="journeys.pipeline")(self.run)
        self.app.task(self._flush_forever)
        self.app.on_partitions_revoked.connect(self._revoked)
        self.app.on_partitions_assigned.connect(self._assigned)

    # ── batches ────────────────────────────────────────────────────────────────────

    async def run(self, stream: Any) -> None:
        # raw records | envelopes (noack) -> partition pipelines (outboxes sent at the flush)
        self.stream = stream
        async for events in stream.noack_take(self.pace.take_max, within=TAKE_WITHIN):
            async with self.batch_lock:
                self.active = True
                wall, now = time.monotonic(), datetime.now(UTC)
                for event in events:
                    message = event.message
                    pipe = self._pipeline(message.partition)
                    if message.topic == self.internal:
                        pipe.on_envelope(event.value, wall)
                    else:
                        channel = self.channels[message.topic]
                        pipe.on_raw(channel, raw_record(event), now, wall)
                self.unacked.extend(events)
                rows_waiting = sum(p.pending.row_count() for p in self.pipelines.values())
            if rows_waiting >= self.pace.batch_size and not await self._flushed():
                return

    def _pipeline(self, partition: int) -> PartitionPipeline:
        pipe = self.pipelines.get(partition)
        if pipe is None:
            state = PartitionState(self.table.data, partition)
            pipe = self.pipelines[partition] = PartitionPipeline(partition, self.config, state)
        return pipe

    async def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:  # fmt: skip
        sent = await self.app.producer.send(topic, key, value, partition, None, headers)
        return asyncio.ensure_future(sent)

    async def _produce_batches(
        self, topic: str, partition: int, records: Sequence[tuple[bytes | None, bytes | None]]
    ) -> list[asyncio.Future[Any]]:
        """`records` to one partition, in order, as few record batches (one future a batch
        instead of one a record: most of a flush's Kafka writes are changelog records)."""
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]  # Faust's aiokafka producer
        sent: list[asyncio.Future[Any]] = []
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(
                        f"a {len(value or b'')}-byte record to {topic} exceeds a batch"
                    )
        if batch.record_count():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        return sent

    # ── flushes ────────────────────────────────────────────────────────────────────

    async def _flush_forever(self) -> None:
        # A plain loop, not `app.timer`: timers end as soon as the app starts stopping,
        # and the consumer then waits for every taken input to be acknowledged, that is
        # for one more flush (Ctrl-C would hang). The loop is cancelled after that wait.
        while True:
            await asyncio.sleep(self.pace.batch_seconds)
            if not await self._flushed():
                return

    async def _flushed(self) -> bool:
        """`flush()`; False if it failed: no flush may follow, and the worker stops."""
        try:
            await self.flush()
        except Exception as error:
            # What it did not acknowledge is read again after a restart, and a tick's
            # changes are made again from the state.
            if self.app.should_stop:  # ClickHouse refused it, or the producer is gone
                log.warning("gave up the last flush while stopping (%r): its inputs "
                            "will be read again after a restart", error)  # fmt: skip
            else:
                log.critical("a flush failed (%r): the worker stops; its inputs not yet "
                             "acknowledged will be read again after a restart", error)  # fmt: skip
                await self.app.crash(error)
            return False
        return True

    async def flush(self) -> None:
        """Make everything processed so far durable, then acknowledge its inputs."""
        if self.app.should_stop and not self.unacked:
            # Stopping, and every input is acknowledged: the producer may already be
            # gone, and a tick's changes are made again from the state after a restart.
            return
        async with self.flush_lock:
            if self.failed_flush is not None:
                # The state in memory is ahead of the durable one by what that flush
                # took: a later flush would make part of it durable, and acknowledge
                # inputs after ones never acknowledged, whose rows are lost (a restart
                # reads them again but finds them applied). Only a restart goes on.
                raise FlushFailedError("an earlier flush failed") from self.failed_flush
            try:
                with self.telemetry.flush_seconds.time():
                    await self._flush_now()
            except BaseException as error:
                self.failed_flush = error
                raise

    async def _flush_now(self) -> None:
        async with self.batch_lock:
            wall = time.monotonic()
            if self.active and not self.app.rebalancing:
                for pipe in self._assigned_pipelines():
                    pipe.expect(self._unread_sources(pipe.partition), wall)
                    pipe.on_tick(wall)
            flushes = {p: pipe.take_flush() for p, pipe in self.pipelines.items()}
            outboxes = [pipe.take_outbox(wall) for pipe in self.pipelines.values()]
            acks, self.unacked = self.unacked, []
        await self._write_rows(flushes)
        # What was forgotten goes once its last rows are written, before its state does.
        await self.eraser.erase([note for flush in flushes.values() for note in flush.forgotten])
        outputs = []
        for partition, flush in flushes.items():
            outputs.extend(await self._outputs(partition, flush))
        await self._wait(outputs)
        changes: list[asyncio.Future[Any]] = []
        changelog = self.table.changelog_topic.get_topic_name()
        for partition, flush in flushes.items():
            # Keys as Faust's table serialises them (JSON), so that its recovery and
            # standby replicas read our records like its own.
            records = [(orjson.dumps(key), value) for key, value in flush.changes]
            changes.extend(await self._produce_batches(changelog, partition, records))
        await self._wait(changes)
        # Work for other partitions leaves only now, once the state it came from is
        # durable: a partition that crashes and replays its inputs in another order
        # must not have told others about a state (a customer's birth) it then loses.
        envelopes = [
            await self._produce(self.internal, None, value, partition)
            for outbox in outboxes
            for partition, value in outbox.items()
        ]
        await self._wait(envelopes)
        durable = self.stats.durable
        read: Counter[str] = Counter()
        for event in acks:
            message = event.message
            position = (message.topic, message.partition)
            durable[position] = max(durable.get(position, -1), message.offset)
            read[message.topic] += 1
            await self.stream.ack(event)
        self.flushed_at = time.monotonic()
        self._count(flushes, read)

    def _count(self, flushes: dict[int, Flush], read: Counter[str]) -> None:
        """A durable flush's figures, into the worker's metrics."""
        telemetry = self.telemetry
        for topic, records in read.items():
            if topic != self.internal:
                telemetry.records_in.labels(topic).inc(records)
        telemetry.touchpoints.inc(sum(flush.touchpoints for flush in flushes.values()))
        reasons = Counter(
            letter.error_type for flush in flushes.values() for letter in flush.dead_letters
        )
        for reason, letters in reasons.items():
            telemetry.dead_letters.labels(reason).inc(letters)

    def assigned_partitions(self) -> set[int]:
        """The pipeline partitions this worker owns now."""
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.internal}

    def lag(self) -> int:
        """Raw records on this worker's partitions not yet processed and durable."""
        return sum(n for (topic, _), n in self.input_lag().items() if topic in self.channels)

    def input_lag(self) -> dict[tuple[str, int], int]:
        """Per assigned input partition (raw and internal), records not yet processed and
        durable (those whose end Faust's consumer has not fetched yet are left out)."""
        consumer = self.app.consumer
        began = consumer._committed_offset  # type: ignore[attr-defined]  # Faust: where reading (re)started
        durable = self.stats.durable
        inputs = {*self.channels, self.internal}
        lags = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp) if tp.topic in inputs else None
            if highwater is not None:
                done = durable.get((tp.topic, tp.partition))
                position = done + 1 if done is not None else began.get(tp) or 0
                lags[tp.topic, tp.partition] = max(0, highwater - position)
        return lags

    def partition_figures(self) -> Iterable[PartitionPipeline]:
        """The partition pipelines of this worker, for their metrics."""
        return list(self.pipelines.values())

    def state_size(self) -> tuple[int, int]:
        """State records this worker holds, and their encoded bytes."""
        values = list(self.table.data.values())
        return len(values), sum(map(len, values))

    def _assigned_pipelines(self) -> list[PartitionPipeline]:
        """Pipelines of every partition this worker owns (built for idle ones too, so that
        their clocks still close sessions), once their state is recovered: Faust pauses a
        partition from its assignment until then. (Built from a store still empty, a
        pipeline would never schedule the customers recovery puts there afterwards: their
        pending touchpoints would wait for ever.)"""
        paused = self.app.consumer._paused_partitions  # type: ignore[attr-defined]  # Faust's
        return [
            self._pipeline(partition)
            for partition in sorted(self.assigned_partitions())
            if TP(self.internal, partition) not in paused
        ]

    def _unread_sources(self, partition: int) -> set[str]:
        """`partition`'s raw sources with records past where this worker began reading
        them (or not fetched yet): until it has read one, each holds the watermark."""
        consumer = self.app.consumer
        began = consumer._committed_offset  # type: ignore[attr-defined]  # Faust: where reading (re)started
        unread = set()
        for topic in self.channels:
            tp = TP(topic, partition)
            highwater = consumer.highwater(tp)
            if highwater is None or highwater > (began.get(tp) or 0):
                unread.add(f"{topic}/{partition}")
        return unread

    async def _write_rows(self, flushes: dict[int, Flush]) -> None:
        token = uuid.uuid4().hex  # a retried insert of this flush is stored once
        for table, writer in self.writers.items():
            made = [row for flush in flushes.values() for row in flush.rows.get(table, ())]
            if not made:
                continue
            result = await writer.write(made, f"{table}/{token}")
            for index, reason in result.refused:
                log.error("%s refused a row (%s): %r", table, reason, made[index][:1])

    async def _outputs(self, partition: int, flush: Flush) -> list[asyncio.Future[RecordMetadata]]:
        sent = []
        for letter in flush.dead_letters:
            sent.append(
                await self._produce(
                    self.names.dead_letter, letter.raw_key or None, letter.raw_value,
                    partition, letter.headers(),
                )
            )  # fmt: skip
        for report in flush.reports:
            value = report.model_dump_json().encode()
            sent.append(await self._produce(self.names.window_reports, None, value, 0))
        return sent

    @staticmethod
    async def _wait(futures: list[asyncio.Future[RecordMetadata]]) -> None:
        if futures:
            await asyncio.gather(*futures)

    # ── rebalances ─────────────────────────────────────────────────────────────────

    async def _revoked(self, *_args: Any, **_kwargs: Any) -> None:
        # Faust has waited for every taken input to be acked (our flushes ack them), so
        # the state is durable; until the next assignment, no tick may change it.
        await self.flush()
        self.active = False

    async def _assigned(self, *args: Any, **kwargs: Any) -> None:
        assigned = args[1] if len(args) > 1 else kwargs.get("assigned", set())
        mine = {tp.partition for tp in assigned if tp.topic == self.internal}
        async with self.batch_lock:
            for partition in [p for p in self.pipelines if p not in mine]:
                self.pipelines.pop(partition).state.forget()
            for pipe in self.pipelines.values():
                pipe.announce()
            self.active = True
