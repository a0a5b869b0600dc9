"""Writing batches to one ClickHouse table, idempotently, retrying while it is away.

Errors fall in two kinds. ClickHouse being away, busy or short of memory is transient:
the write is retried with backoff until it succeeds, and the agent waits (so its
partitions pause). ClickHouse refusing the data itself (a value it cannot parse or store)
is permanent: the batch is split in halves until the refused rows are found, the rest is
stored, and the refused rows are handed back to become dead letters.

Usage:
    writer = TableWriter(client, "dead_letters", COLUMNS, lock)
    result = await writer.write(rows)   # returns once ClickHouse has every row it accepts
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError
from clickhouse_connect.driver.insert import InsertContext
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception, wait_exponential

from pipeline.clickhouse.client import quote_identifier
from pipeline.health import WriteFailures
from pipeline.sink.batching import SourcedRow, TopicPartition, plan_inserts, sources
from pipeline.telemetry import Telemetry

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE_COLUMNS = ("_topic", "_partition", "_offset")

#: ClickHouse error codes that mean "this data can never be stored as it is".
REFUSED_DATA_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        407,  # DECIMAL_OVERFLOW
    }
)


def refuses_data(error: BaseException) -> bool:
    """Whether `error` says the data itself is unacceptable (retrying cannot help)."""
    if isinstance(error, DataError | TypeError | ValueError | OverflowError | struct.error):
        return True
    if isinstance(error, OperationalError):
        return False
    return isinstance(error, DatabaseError) and getattr(error, "code", None) in REFUSED_DATA_CODES


@dataclass
class WriteResult:
    """How a batch went: rows stored, and rows refused (by their index) with the reason."""

    written: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SourcedResult:
    """How a batch of sourced rows went: rows stored, and rows refused with the reason."""

    written: int = 0
    refused: list[tuple[SourcedRow, str]] = field(default_factory=list)


class RowWriter:
    """Inserts rows into one table: one insert per call, a deduplication token, retries
    while ClickHouse is away, and the refused rows found by halving.

    All calls into clickhouse-connect run in a worker thread under `lock`: a client is
    not thread-safe, and one client serves a worker's writes. Rows stored and failed
    inserts are counted in `telemetry`.
    """

    def __init__(
        self,
        client: Client,
        table: str,
        columns: Sequence[str],
        lock: threading.Lock,
        retry: RetryPolicy | None = None,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.columns = list(columns)
        self.lock = lock
        self.retry = retry or RetryPolicy()
        telemetry = telemetry or Telemetry()
        self._inserted = telemetry.rows_inserted.labels(table)
        self._failed = telemetry.insert_errors.labels(table)
        self._context: InsertContext | None = None

    async def write(self, rows: Sequence[Sequence[object]], token: str) -> WriteResult:
        """Store `rows`, retrying transient failures as `retry` says."""
        if not rows:
            return WriteResult()
        return await self.retry.call(lambda: asyncio.to_thread(self.write_blocking, rows, token))

    def write_blocking(self, rows: Sequence[Sequence[object]], token: str) -> WriteResult:
        """`write` once, in this thread, without retries."""
        result = WriteResult()
        with self.lock:
            self.insert_or_split(list(range(len(rows))), rows, token, result)
        return result

    def insert_or_split(
        self, indexes: list[int], rows: Sequence[Sequence[object]], token: str,
        result: WriteResult,
    ) -> None:  # fmt: skip
        """Insert; if ClickHouse refuses the data, halve until the refused rows are found.
        The caller holds the lock."""
        try:
            self._insert([list(rows[i]) for i in indexes], token)
        except Exception as error:
            self._failed.inc()
            if not refuses_data(error):
                raise
            if len(indexes) == 1:
                log.warning("%s refused a row: %s", self.table, error)
                result.refused.append((indexes[0], f"{type(error).__name__}: {error}"))
                return
            half = len(indexes) // 2
            for n, part in enumerate((indexes[:half], indexes[half:])):
                self.insert_or_split(part, rows, f"{token}/{n}", result)
            return
        result.written += len(indexes)
        self._inserted.inc(len(indexes))

    def _insert(self, values: list[list[object]], token: str) -> None:
        # One insert context per writer: clickhouse-connect otherwise asks ClickHouse for
        # the table's columns (DESCRIBE) before every insert. The token must go in the
        # context's settings: `insert(context=..., settings=...)` ignores the latter.
        if self._context is None:
            self._context = self.client.create_insert_context(
                table=self.table, column_names=self.columns
            )
        self._context.settings["insert_deduplication_token"] = token
        self._context.data = values
        self.client.insert(context=self._context)


@dataclass(frozen=True)
class RetryPolicy:
    """How a ClickHouse write is retried: with backoff up to `max_seconds` until it
    succeeds, ClickHouse refuses the data itself, or `give_up()` (asked after each
    failure) is true; each failure counted in `failures` (for /readyz)."""

    max_seconds: float = 30.0
    give_up: Callable[[], bool] = lambda: False
    failures: WriteFailures = field(default_factory=WriteFailures)

    async def call(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        """`attempt_once()` under this policy; the last failure is raised."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda error: not refuses_data(error)),
            stop=lambda _: self.give_up(),
            wait=wait_exponential(multiplier=0.2, max=self.max_seconds),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                try:
                    return await attempt_once()
                except Exception as error:
                    self.failures.record(error)
                    raise
        raise AssertionError("unreachable: AsyncRetrying returns or raises")  # pragma: no cover


class TableWriter:
    """Inserts `SourcedRow`s read from Kafka topics; each source offset lands at most once
    (the dead-letter and alert sinks, which read their topics back)."""

    def __init__(
        self,
        client: Client,
        table: str,
        columns: Sequence[str],
        lock: threading.Lock,
        retry: RetryPolicy | None = None,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        columns = [*columns, *SOURCE_COLUMNS]
        self.rows = RowWriter(client, table, columns, lock, retry, telemetry=telemetry)
        self.table = table
        self._stored: dict[TopicPartition, int] = {}

    def forget_watermarks(self) -> None:
        """Drop cached watermarks (after a rebalance another worker may have written)."""
        self._stored.clear()

    async def write(self, rows: Sequence[SourcedRow]) -> SourcedResult:
        """Store `rows` (each source offset once); says which ClickHouse refused, and why."""
        if not rows:
            return SourcedResult()
        return await self.rows.retry.call(lambda: asyncio.to_thread(self._write_now, rows))

    def _write_now(self, rows: Sequence[SourcedRow]) -> SourcedResult:
        outcome = SourcedResult()
        with self.rows.lock:
            self._load_watermarks(sources(rows))
            for planned in plan_inserts(self.table, rows, self._stored):
                result = WriteResult()
                values = planned.values()
                self.rows.insert_or_split(list(range(len(values))), values, planned.token, result)
                outcome.written += result.written
                outcome.refused.extend((planned.rows[i], why) for i, why in result.refused)
                self._stored[planned.source] = planned.last_offset
        return outcome

    def _load_watermarks(self, wanted: set[TopicPartition]) -> None:
        missing = wanted - self._stored.keys()
        if not missing:
            return
        topics = sorted({topic for topic, _ in missing})
        result = self.rows.client.query(
            f"SELECT _topic, _partition, max(_offset) FROM {quote_identifier(self.table)} "
            "WHERE _topic IN {topics:Array(String)} GROUP BY _topic, _partition",
            parameters={"topics": topics},
        )
        found = {(str(t), int(p)): int(o) for t, p, o in result.result_rows}
        for source in missing:
            self._stored[source] = found.get(source, -1)
