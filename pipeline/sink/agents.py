"""Sink agents: each output topic flows into its ClickHouse table in batches.

    Kafka record (topic, partition, offset) -> SourcedRow -> TableWriter (batched insert)

Offsets are acknowledged only after ClickHouse has the batch; while ClickHouse is away
the agent waits in its retry loop, Faust's stream buffer fills and consumption pauses,
so memory stays bounded and nothing is acknowledged that was not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter

log = logging.getLogger(__name__)

#: Turns a received event into the table's column values (in the writer's order).
RowOf = Callable[[Any], tuple[object, ...]]


def register_sink(
    app: faust.App,
    topic: faust.TopicT,
    *,
    writer: TableWriter,
    row_of: RowOf,
    batch_size: int,
    batch_seconds: float,
) -> Any:
    """Add an agent that writes `topic` into `writer`'s table; returns the agent."""

    async def sink(stream: faust.StreamT[Any]) -> None:
        # events (noack: acked by hand, after the write) -> SourcedRow -> ClickHouse
        batches = stream.noack_take(batch_size, within=batch_seconds)  # type: ignore[attr-defined]  # missing from faust's StreamT stub
        async for events in batches:
            rows = [
                SourcedRow(
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                    row_of(event),
                )
                for event in events
            ]
            written = await writer.write(rows)
            for event in events:
                await stream.ack(event)
            log.debug("%s: %d rows in, %d written", writer.table, len(rows), written)

    @app.on_partitions_assigned.connect
    async def _rebalanced(*_args: Any, **_kwargs: Any) -> None:
        writer.forget_watermarks()

    sink.__name__ = sink.__qualname__ = f"sink_{writer.table}"
    return app.agent(topic, name=f"sink.{writer.table}")(sink)
