"""Sink agents: each output topic flows into its ClickHouse table in batches.

    Kafka record (topic, partition, offset) -> SourcedRow -> TableWriter (batched insert)

Offsets are acknowledged only after ClickHouse has the batch; while ClickHouse is away
the agent waits in its retry loop, Faust's stream buffer fills and consumption pauses,
so memory stays bounded and nothing is acknowledged that was not stored. A record that
cannot become a row, or whose row ClickHouse refuses, goes to the dead-letter topic with
the reason (and is acknowledged): one bad record never blocks a partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from pipeline.ingest.deadletters import dead_letter
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from pipeline.telemetry import Telemetry

log = logging.getLogger(__name__)

#: Turns a received event into rows of the table's column values (in the writer's order).
RowsOf = Callable[[Any], list[tuple[object, ...]]]


def one_row(row_of: Callable[[Any], tuple[object, ...]]) -> RowsOf:
    """A RowsOf for records that make exactly one row."""
    return lambda event: [row_of(event)]


def register_sink(
    app: faust.App,
    topic: faust.TopicT,
    *,
    writer: TableWriter,
    rows_of: RowsOf,
    batch_size: int,
    batch_seconds: float,
    dead_letters: faust.TopicT | None,
    telemetry: Telemetry | None = None,
) -> Any:
    """Add an agent that writes `topic` into `writer`'s table; returns the agent.

    Refused records go to `dead_letters`; with None (the dead-letter sink itself, which
    must not feed its own input) they are logged and stay on their topic.
    """
    refused = (telemetry or Telemetry()).dead_letters.labels("RefusedByClickHouse")

    async def refuse(event: Any, reason: str) -> None:
        message = event.message
        if dead_letters is None:
            log.error(
                "%s refused %s[%d]@%d: %s",
                writer.table, message.topic, message.partition, message.offset, reason,
            )  # fmt: skip
            return
        letter = dead_letter(
            reason,
            error_type="RefusedByClickHouse",
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            key=event.key,
            value=event.value,
            now=datetime.now(UTC),
        )
        await dead_letters.send(key=event.key, value=event.value, headers=letter.headers())
        refused.inc()

    async def sink(stream: faust.StreamT[Any]) -> None:
        # events (noack: acked by hand, after the write) -> SourcedRow -> ClickHouse
        batches = stream.noack_take(batch_size, within=batch_seconds)  # type: ignore[attr-defined]  # missing from faust's StreamT stub
        async for events in batches:
            rows: list[SourcedRow] = []
            by_position: dict[tuple[int, int], Any] = {}
            for event in events:
                message = event.message
                by_position[(message.partition, message.offset)] = event
                try:
                    made = rows_of(event)
                except Exception as error:  # a record that cannot be a row: dead letter
                    await refuse(event, f"cannot make a {writer.table} row: {error!r}")
                    continue
                rows.extend(
                    SourcedRow(message.topic, message.partition, message.offset, values, index)
                    for index, values in enumerate(made)
                )
            try:
                result = await writer.write(rows)
            except Exception as error:
                if not app.should_stop:
                    raise
                log.warning("%s: gave up writing while stopping (%r): the records will "
                            "be read again after a restart", writer.table, error)  # fmt: skip
                return
            refused_records = {
                (row.partition, row.offset): reason for row, reason in result.refused
            }
            for position, reason in refused_records.items():
                await refuse(by_position[position], reason)
            for event in events:
                await stream.ack(event)
            log.debug("%s: %d rows in, %d written", writer.table, len(rows), result.written)

    @app.on_partitions_assigned.connect
    async def _rebalanced(*_args: Any, **_kwargs: Any) -> None:
        writer.forget_watermarks()

    sink.__name__ = sink.__qualname__ = f"sink_{writer.table}"
    return app.agent(topic, name=f"sink.{writer.table}")(sink)
