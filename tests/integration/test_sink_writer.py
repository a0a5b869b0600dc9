"""TableWriter on a real ClickHouse: retries, restarts and re-batching store rows once."""

from __future__ import annotations

import asyncio
import threading

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE facts (
    id String, _topic LowCardinality(String), _partition UInt32, _offset Int64,
    _inserted_at DateTime64(6) DEFAULT now64(6)
)
ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100
"""


def rows(partition: int, offsets: range) -> list[SourcedRow]:
    return [SourcedRow("src", partition, o, (f"p{partition}-o{o}",)) for o in offsets]


def stored(client: Client) -> list[str]:
    return [r[0] for r in client.query("SELECT id FROM facts ORDER BY id").result_rows]


def test_restart_rebatching_and_retries_store_each_offset_once(clickhouse: Client) -> None:
    clickhouse.command(DDL)
    lock = threading.Lock()
    writer = TableWriter(clickhouse, "facts", ["id"], lock)
    assert asyncio.run(writer.write(rows(0, range(10)) + rows(1, range(5)))).written == 15
    # The same batch again (a retry after a timeout): nothing new.
    assert asyncio.run(writer.write(rows(0, range(10)))).written == 0
    # A new writer knows nothing (a restarted worker); offsets 0-19 come again, re-batched.
    restarted = TableWriter(clickhouse, "facts", ["id"], lock)
    assert asyncio.run(restarted.write(rows(0, range(20)) + rows(1, range(3, 8)))).written == 13
    expected = sorted([f"p0-o{o}" for o in range(20)] + [f"p1-o{o}" for o in range(8)])
    assert stored(clickhouse) == expected


def test_a_retried_insert_is_stored_once_by_its_token(clickhouse: Client) -> None:
    """An insert that succeeded but whose answer was lost is retried: stored once.

    The retry carries the same offsets-derived token (and the same block), so ClickHouse
    drops it; the unit tests pin how the token is derived.
    """
    clickhouse.command(DDL)
    writer = TableWriter(clickhouse, "facts", ["id"], threading.Lock())
    batch = rows(0, range(4))
    asyncio.run(writer.write(batch))
    writer._stored[("src", 0)] = -1
    asyncio.run(writer.write(batch))
    assert stored(clickhouse) == [f"p0-o{o}" for o in range(4)]


def test_rows_clickhouse_refuses_are_handed_back_and_the_rest_stored(clickhouse: Client) -> None:
    clickhouse.command(
        "CREATE TABLE small (n UInt8, _topic String, _partition UInt32, _offset Int64) "
        "ENGINE = MergeTree ORDER BY n"
    )
    writer = TableWriter(clickhouse, "small", ["n"], threading.Lock())
    values = [1, 2, 300, 4, 5, -1, 7, 8]  # 300 and -1 do not fit a UInt8
    batch = [SourcedRow("src", 0, offset, (n,)) for offset, n in enumerate(values)]
    result = asyncio.run(writer.write(batch))
    assert result.written == 6
    assert sorted(row.offset for row, _ in result.refused) == [2, 5]
    assert all(reason for _, reason in result.refused)
    stored = [r[0] for r in clickhouse.query("SELECT n FROM small ORDER BY n").result_rows]
    assert stored == [1, 2, 4, 5, 7, 8]
    # Handled: the same batch again stores nothing and refuses nothing.
    again = asyncio.run(writer.write(batch))
    assert (again.written, again.refused) == (0, [])


def test_the_insert_carries_its_offsets_token(clickhouse: Client) -> None:
    """Same offsets, different bytes: only the token can tell it is the same insert."""
    clickhouse.command(DDL)
    writer = TableWriter(clickhouse, "facts", ["id"], threading.Lock())
    asyncio.run(writer.write([SourcedRow("src", 0, o, (f"first-{o}",)) for o in range(3)]))
    writer._stored[("src", 0)] = -1
    asyncio.run(writer.write([SourcedRow("src", 0, o, (f"again-{o}",)) for o in range(3)]))
    assert stored(clickhouse) == ["first-0", "first-1", "first-2"]
