"""Pure batch planning for the ClickHouse sink: idempotency without a transaction.

Two guards make a write idempotent:

1. Every insert holds rows of one source partition and carries a deduplication token
   derived from its offsets, so a retried insert (a timeout after ClickHouse already
   stored it) is stored once.
2. Every row records its source (topic, partition, offset). After a restart, batches
   may be cut differently than before, so tokens alone do not match; the sink therefore
   drops rows at or below the highest offset already stored for their partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class SourcedRow:
    """A row for a table, with the Kafka position it was read from."""

    topic: str
    partition: int
    offset: int
    values: tuple[object, ...]
    index: int = 0  # the n-th row made from one record (a record may make several)


@dataclass(frozen=True)
class PlannedInsert:
    """One insert: rows of one source partition, in offset order, and its token."""

    table: str
    source: TopicPartition
    rows: list[SourcedRow]

    @property
    def first_offset(self) -> int:
        return self.rows[0].offset

    @property
    def last_offset(self) -> int:
        return self.rows[-1].offset

    @property
    def token(self) -> str:
        topic, partition = self.source
        return f"{self.table}/{topic}/{partition}/{self.first_offset}-{self.last_offset}"

    def values(self) -> list[list[object]]:
        """Row values followed by the source columns `_topic`, `_partition`, `_offset`."""
        return [[*row.values, row.topic, row.partition, row.offset] for row in self.rows]


def plan_inserts(
    table: str, rows: Iterable[SourcedRow], stored: dict[TopicPartition, int]
) -> list[PlannedInsert]:
    """Group rows per source partition, dropping those at or below the stored watermark.

    `stored` maps a source partition to the highest offset already in the table (absent:
    nothing stored). Duplicate offsets within the batch (a redelivery) are kept once.
    """
    by_source: dict[TopicPartition, dict[tuple[int, int], SourcedRow]] = {}
    for row in rows:
        source = (row.topic, row.partition)
        if row.offset <= stored.get(source, -1):
            continue
        by_source.setdefault(source, {})[(row.offset, row.index)] = row
    return [
        PlannedInsert(table, source, [found[offset] for offset in sorted(found)])
        for source, found in sorted(by_source.items())
    ]


def sources(rows: Sequence[SourcedRow]) -> set[TopicPartition]:
    """The source partitions a batch reads from."""
    return {(row.topic, row.partition) for row in rows}
