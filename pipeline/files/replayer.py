"""Replaying files: every row mapped, checked, ordered by event time, paced and sent.

    file rows -> map_row -> check (the import normaliser) -> Touchpoint  -> ordered, paced
                                                                            -> raw import topic
                                                          -> Problem     -> dead-letter topic

A rejected row is never dropped: it goes to the dead-letter topic at once, with the file,
line and reason (naming the column, never the value) and its raw text as the value. The
raw record of a good row is keyed by its customer (the key the normaliser will give it),
so one customer's rows stay in order through one partition.

Usage:
    summary = replay_files([Source(path, mapping)], sink, normalizer, topic, ReplayOptions())
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pipeline.files.mapping import Mapping
from pipeline.files.ordering import Reorder, merge
from pipeline.files.pacing import Pacer
from pipeline.files.readers import Reader, Row, open_reader
from pipeline.files.rows import Problem, RowError, map_row
from pipeline.files.sender import Sink
from pipeline.files.validate import check, encode
from pipeline.ingest.deadletters import dead_letter
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.journeys.identity import anchor_key
from schemas.touchpoint import Touchpoint


@dataclass(frozen=True)
class Source:
    """A file and the mapping that reads it."""

    path: Path
    mapping: Mapping


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay."""

    speed: float | None = None  # None: as fast as possible
    sort_window: int = 10_000  # rows held back per file to repair local disorder
    max_rejected: int | None = 100  # stop once more rows than this were rejected
    # The oldest event time ClickHouse keeps (CLICKHOUSE_RETENTION_DAYS before now): older
    # rows are counted (and, with `refuse_expired`, rejected instead of sent).
    keep_after: datetime | None = None
    refuse_expired: bool = False
    remember_sent: bool = False  # keep the event ids sent (and kept), for `--wait`


@dataclass(frozen=True)
class Rejection:
    """A row that was not sent, and why."""

    file: str
    where: str  # "line 17" or "row 17"
    problem: Problem

    def console(self) -> str:
        return f"{self.file} {self.where}: {self.problem.console()}"


@dataclass
class ReplaySummary:
    """What a replay read, sent and rejected."""

    files: int = 0
    read: int = 0
    sent: int = 0  # acknowledged by Kafka (or counted, in a dry run)
    rejected: int = 0
    out_of_order: int = 0  # older than a row already sent (beyond the sort window)
    expired: int = 0  # sent although older than ClickHouse's retention
    failed: int = 0  # Kafka refused or timed out
    failure: str | None = None
    stopped: str | None = None  # why the replay ended early, if it did
    reasons: Counter[str] = field(default_factory=Counter)
    first_event: datetime | None = None
    last_event: datetime | None = None
    elapsed: float = 0.0
    # Event ids sent that ClickHouse will keep (with `remember_sent`).
    event_ids: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float:
        """Rows handled per second."""
        return (self.sent + self.rejected) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.failed == 0


class Progress(Protocol):
    """Told as rows are handled; the CLI draws a progress bar from it."""

    def advance(self, rows: int) -> None: ...
    def rejected(self, rejection: Rejection) -> None: ...


class _Quiet:
    def advance(self, rows: int) -> None:
        pass

    def rejected(self, rejection: Rejection) -> None:
        pass


class TooManyRejected(Exception):
    """More rows were rejected than `max_rejected` allows."""


@dataclass(frozen=True)
class _Accepted:
    event_time: datetime
    key: bytes
    value: bytes
    event_id: str | None  # None: older than ClickHouse keeps


def count_rows(sources: list[Source]) -> int:
    """Rows in all files (for the progress bar's total; approximate for CSV)."""
    return sum(open_reader(source.path, source.mapping).count() for source in sources)


def replay_files(
    sources: list[Source],
    sink: Sink,
    normalizer: Normalizer,
    topic: str,
    *,
    options: ReplayOptions = ReplayOptions(),
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Replay `sources` into `sink`; returns the summary (also when stopped early)."""
    run = _Run(sink, normalizer, topic, options, progress or _Quiet())
    readers = [(open_reader(source.path, source.mapping), source) for source in sources]
    started = clock()
    pacer = Pacer(options.speed)
    reorder = Reorder(options.sort_window)
    try:
        streams = [
            reorder(run.accepted(reader, source.mapping), _time) for reader, source in readers
        ]
        for item in merge(streams, _time):
            wait = pacer.delay(item.event_time, clock())
            if wait > 0:
                sleep(wait)
            run.send(item)
    except TooManyRejected:
        run.summary.stopped = (
            f"more than {options.max_rejected} rows were rejected: check the mapping "
            "(or raise --max-rejected)"
        )
    except KeyboardInterrupt:
        run.summary.stopped = "interrupted"
    finally:
        delivery = sink.close()
    summary = run.summary
    summary.files = len(sources)
    summary.out_of_order = reorder.out_of_order
    summary.sent, summary.failed, summary.failure = (
        delivery.sent,
        delivery.failed,
        delivery.first_error,
    )
    summary.elapsed = clock() - started
    return summary


def _time(item: _Accepted) -> datetime:
    return item.event_time


class _Run:
    """The state of one replay: counts, and where rows and rejections go."""

    def __init__(
        self,
        sink: Sink,
        normalizer: Normalizer,
        topic: str,
        options: ReplayOptions,
        progress: Progress,
    ) -> None:
        self.sink = sink
        self.normalizer = normalizer
        self.topic = topic
        self.options = options
        self.progress = progress
        self.summary = ReplaySummary()

    def accepted(self, reader: Reader, mapping: Mapping) -> Iterator[_Accepted]:
        """The file's good rows; bad ones go to the dead-letter topic on the way."""
        name = reader.path.name
        for row in reader.rows():
            self.summary.read += 1
            result = self.one(row, mapping, name)
            if isinstance(result, _Accepted):
                yield result
            else:
                problem, value = result
                self.reject(Rejection(name, row.where(reader.unit), problem), row, value)

    def one(self, row: Row, mapping: Mapping, name: str) -> _Accepted | tuple[Problem, bytes]:
        if row.error is not None:
            return Problem("MappingError", row.error), _row_bytes(row)
        try:
            payload = map_row(mapping, row, name)
        except RowError as error:
            return error.problem, _row_bytes(row)
        value = encode(payload)
        record = RawRecord(self.topic, -1, row.number, None, value)
        result = check(self.normalizer, mapping, record, payload, datetime.now(UTC))
        if not isinstance(result, Touchpoint):
            return result, value
        keep_after = self.options.keep_after
        expired = keep_after is not None and result.event_time < keep_after
        if keep_after is not None and expired:
            if self.options.refuse_expired:
                reason = (
                    f"event time {result.event_time:%Y-%m-%d} is older than ClickHouse keeps "
                    f"(CLICKHOUSE_RETENTION_DAYS: since {keep_after:%Y-%m-%d})"
                )
                return Problem("BeyondRetention", reason, "event_time"), value
            self.summary.expired += 1
        key = anchor_key(result.identities) or f"event:{result.event_id}"
        kept = None if expired else result.event_id
        return _Accepted(result.event_time, key.encode(), value, kept)

    def send(self, item: _Accepted) -> None:
        self.sink.send(item.key, item.value)
        summary = self.summary
        if self.options.remember_sent and item.event_id is not None:
            summary.event_ids.add(item.event_id)
        if summary.first_event is None or item.event_time < summary.first_event:
            summary.first_event = item.event_time
        if summary.last_event is None or item.event_time > summary.last_event:
            summary.last_event = item.event_time
        self.progress.advance(1)

    def reject(self, rejection: Rejection, row: Row, value: bytes) -> None:
        # Not from Kafka: partition -1, and the line (or row) number as the offset.
        self.sink.dead(
            dead_letter(
                f"{rejection.file} {rejection.where}: {rejection.problem.message()}",
                error_type=rejection.problem.error_type,
                source_topic=self.topic,
                source_partition=-1,
                source_offset=row.number,
                key=None,
                value=value,
            )
        )
        self.summary.rejected += 1
        self.summary.reasons[rejection.problem.category()] += 1
        self.progress.rejected(rejection)
        self.progress.advance(1)
        limit = self.options.max_rejected
        if limit is not None and self.summary.rejected > limit:
            raise TooManyRejected


def _row_bytes(row: Row) -> bytes:
    """A rejected row as it was read: its text, or its values as a JSON object."""
    if row.raw is not None:
        return row.raw.encode()
    return json.dumps(row.values, default=str, ensure_ascii=False).encode()
