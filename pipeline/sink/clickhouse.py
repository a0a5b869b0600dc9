"""Writing batches to one ClickHouse table, idempotently, retrying while it is away.

Usage:
    writer = TableWriter(client, "dead_letters", COLUMNS, lock)
    await writer.write(rows)     # returns once ClickHouse has every row (or had them)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from tenacity import AsyncRetrying, before_sleep_log, wait_exponential

from pipeline.clickhouse.client import quote_identifier
from pipeline.sink.batching import PlannedInsert, SourcedRow, TopicPartition, plan_inserts, sources

log = logging.getLogger(__name__)

SOURCE_COLUMNS = ("_topic", "_partition", "_offset")


class TableWriter:
    """Inserts `SourcedRow`s into one table; each source offset lands at most once.

    All calls into clickhouse-connect run in a worker thread under `lock`: one client is
    shared by the sinks and the query endpoint of a worker, and a client is not
    thread-safe.
    """

    def __init__(
        self,
        client: Client,
        table: str,
        columns: Sequence[str],
        lock: threading.Lock,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.client = client
        self.table = table
        self.columns = [*columns, *SOURCE_COLUMNS]
        self.lock = lock
        self.retry_max_seconds = retry_max_seconds
        self._stored: dict[TopicPartition, int] = {}

    def forget_watermarks(self) -> None:
        """Drop cached watermarks (after a rebalance another worker may have written)."""
        self._stored.clear()

    async def write(self, rows: Sequence[SourcedRow]) -> int:
        """Store `rows`, retrying with backoff until ClickHouse takes them; rows written."""
        if not rows:
            return 0
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=self.retry_max_seconds),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                return await asyncio.to_thread(self._write_now, rows)
        raise AssertionError("unreachable: AsyncRetrying retries until success")  # pragma: no cover

    def _write_now(self, rows: Sequence[SourcedRow]) -> int:
        with self.lock:
            self._load_watermarks(sources(rows))
            written = 0
            for planned in plan_inserts(self.table, rows, self._stored):
                self._insert(planned)
                self._stored[planned.source] = planned.last_offset
                written += len(planned.rows)
            return written

    def _insert(self, planned: PlannedInsert) -> None:
        settings: dict[str, Any] = {"insert_deduplication_token": planned.token}
        self.client.insert(
            self.table, planned.values(), column_names=self.columns, settings=settings
        )

    def _load_watermarks(self, wanted: set[TopicPartition]) -> None:
        missing = wanted - self._stored.keys()
        if not missing:
            return
        topics = sorted({topic for topic, _ in missing})
        result = self.client.query(
            f"SELECT _topic, _partition, max(_offset) FROM {quote_identifier(self.table)} "
            "WHERE _topic IN {topics:Array(String)} GROUP BY _topic, _partition",
            parameters={"topics": topics},
        )
        found = {(str(t), int(p)): int(o) for t, p, o in result.result_rows}
        for source in missing:
            self._stored[source] = found.get(source, -1)
