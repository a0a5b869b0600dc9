"""The partition pipelines alone: the bench's events through normalise, resolve, engine
and rows, with no Kafka (and, unless asked, no ClickHouse), to see what our own code
costs per event.

    python -m pipeline.bench.offline --events 20000 [--flush-every 800] [--clickhouse]
        [--profile out.prof]

Records are spread over partitions as the bench's producer spreads them (Kafka's default
partitioner on the record key); every `flush-every` records each pipeline's flush and
outbox are taken, and the envelopes are handed to their partitions, as the worker does.
With `--clickhouse`, each flush's rows are inserted into an embedded ClickHouse, one
insert per table. Prints CPU microseconds per event, and with `--profile` writes cProfile
statistics.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.partitioner import murmur2

from pipeline.bench.traffic import bench_events
from pipeline.clickhouse.client import connect
from pipeline.clickhouse.migrations import migrate
from pipeline.gc_tuning import tune_garbage_collector
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.ingest.normalize import RawRecord
from pipeline.journeys.pipeline import Flush, PartitionPipeline, PipelineConfig
from pipeline.journeys.stages import load_stage_model
from pipeline.journeys.store import PartitionState
from pipeline.settings import EmbeddedClickHouse, load_settings
from pipeline.sink import rows
from pipeline.sink.clickhouse import RowWriter
from pipeline.topics import TopicNames
from schemas.touchpoint import Channel

#: (partition, record, channel): a raw record as the worker takes it.
Record = tuple[int, RawRecord, Channel]


def records(count: int, seed: int, partitions: int) -> list[Record]:
    """(partition, record, channel) of the bench's events, in the order they are sent."""
    names = TopicNames("offline.")
    spread = itertools.count()
    made = []
    for offset, event in enumerate(bench_events(count, seed)):
        key = event.key
        hashed = murmur2(key) & 0x7FFFFFFF if key is not None else next(spread)
        partition = hashed % partitions
        topic = names.raw(event.channel)
        made.append(
            (partition, RawRecord(topic, partition, offset, key, event.value), event.channel)
        )
    return made


class Sink:
    """Each flush's rows into an embedded ClickHouse, one insert per table (the worker's
    writers); CPU seconds spent in it."""

    def __init__(self, path: Path) -> None:
        client = connect(EmbeddedClickHouse(path, "offline"))
        migrate(client, retention_days=3650)
        lock = threading.Lock()
        self.writers = {t: RowWriter(client, t, c, lock) for t, c in rows.TABLES.items()}
        self.spent = 0.0
        self.inserts = 0

    def write(self, flushes: list[Flush]) -> None:
        began = time.process_time()
        token = uuid.uuid4().hex
        for table, writer in self.writers.items():
            made = [row for flush in flushes for row in flush.rows.get(table, ())]
            if made:
                writer.write_blocking(made, f"{table}/{token}")
                self.inserts += 1
        self.spent += time.process_time() - began


def run(
    config: PipelineConfig, items: list[Record], partitions: int, flush_every: int,
    sink: Sink | None,
) -> int:  # fmt: skip
    """Feed every record; the rows made."""
    data: dict[str, bytes] = {}
    pipes = [PartitionPipeline(p, config, PartitionState(data, p)) for p in range(partitions)]
    made = 0
    now = datetime.now(UTC)
    batches = list(_batches(items, flush_every))
    # After the last batch, the wall clock an hour past idle: every session closed.
    walls = [time.monotonic()] * (len(batches) - 1) + [time.monotonic() + 4000.0]
    for batch, wall in zip(batches, walls, strict=True):
        for partition, record, channel in batch:
            pipes[partition].on_raw(channel, record, now, wall)
        flushes = []
        for pipe in pipes:
            pipe.on_tick(wall)
            flushes.append(pipe.take_flush())
        made += sum(flush.row_count() for flush in flushes)
        if sink is not None:
            sink.write(flushes)
        for pipe in pipes:
            for destination, envelope in pipe.take_outbox(wall).items():
                pipes[destination].on_envelope(envelope, wall)
    return made


def _batches(items: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--flush-every", type=int, default=800)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--clickhouse", action="store_true", help="insert into embedded chdb")
    args = parser.parse_args()
    settings = load_settings()
    stage_model = load_stage_model(settings.stages.model_file, KNOWN_ACTIONS)
    config = PipelineConfig.from_settings(settings, stage_model)
    items = records(args.events, args.seed, args.partitions)
    workdir = Path(tempfile.mkdtemp(prefix="journeys-offline-"))
    sink = Sink(workdir / "chdb") if args.clickhouse else None
    tune_garbage_collector(settings.worker.gc_threshold)
    profiler = cProfile.Profile() if args.profile else None
    began = time.process_time()
    if profiler is not None:
        profiler.enable()
    made = run(config, items, args.partitions, args.flush_every, sink)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    spent = time.process_time() - began
    print(
        f"{args.events:,} events, {made:,} rows: {spent * 1e6 / args.events:,.0f} CPU µs per event"
    )
    if sink is not None:
        print(
            f"of which ClickHouse: {sink.spent * 1e6 / args.events:,.0f} µs per event "
            f"({sink.inserts} inserts, {sink.spent * 1e3 / max(sink.inserts, 1):.1f} ms each)"
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
