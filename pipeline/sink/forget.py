"""Deleting what a worker forgot (pipeline.journeys.forgetting) from every table it
writes, then logging it by fingerprint in `forgotten`.

A customer's rows go by customer id (touchpoints, sessions, transitions, journeys,
identity rows; both sides of a merge); an identifier's by the identifier (identity rows)
and by its value in the touchpoints' identifier columns; a dead letter's by where it was
on the dead-letter topic. Deletes are ClickHouse mutations
(`ALTER TABLE ... DELETE`, waited for): rare, and they work beside projections.

    eraser = RowEraser(client, lock); await eraser.erase([Forgotten("customer", "anon:c-1")])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from clickhouse_connect.driver.binding import format_query_value
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.client import quote_identifier
from pipeline.ingest import deadletters
from pipeline.journeys.forgetting import Forgotten, fingerprint
from pipeline.journeys.identity import FIELD_OF
from pipeline.sink import rows
from pipeline.sink.clickhouse import RetryPolicy

#: Columns naming a customer, and columns naming an identifier by its key.
CUSTOMER_COLUMNS = ("customer_id", "loser_id", "winner_id")
IDENTIFIER_COLUMNS = ("identifier", "partner")
LOG_TABLE = "forgotten"


def where_forgotten(
    columns: Sequence[str], customers: Sequence[str], identifiers: Sequence[str]
) -> str | None:
    """The condition selecting a table's rows of these customers and identifiers."""
    conditions = []
    for column in CUSTOMER_COLUMNS:
        if column in columns and customers:
            conditions.append(f"has({format_query_value(list(customers))}, {column})")
    for column in IDENTIFIER_COLUMNS:
        if column in columns and identifiers:
            conditions.append(f"has({format_query_value(list(identifiers))}, {column})")
    values: dict[str, list[str]] = {}
    for key in identifiers:
        kind, _, value = key.partition(":")
        values.setdefault(FIELD_OF[kind], []).append(value)
    for column, named in sorted(values.items()):
        if column in columns:
            conditions.append(f"has({format_query_value(named)}, ifNull({column}, ''))")
    return " OR ".join(conditions) or None


class RowEraser:
    """Deletes forgotten customers' and identifiers' rows; retries while ClickHouse is
    away, like the writers (one client, under their lock)."""

    def __init__(
        self,
        client: Client,
        lock: threading.Lock,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.lock = lock
        self.retry = retry or RetryPolicy()

    async def erase(self, notes: Sequence[Forgotten]) -> None:
        """Delete the rows of everything in `notes`, then log each by fingerprint."""
        if notes:
            await self.retry.call(lambda: asyncio.to_thread(self.erase_blocking, notes))

    def erase_blocking(self, notes: Sequence[Forgotten]) -> None:
        customers = sorted({note.key for note in notes if note.kind == "customer"})
        identifiers = sorted({note.key for note in notes if note.kind == "identifier"})
        letters = sorted({note.key for note in notes if note.kind == "dead_letter"})
        with self.lock:
            if letters:
                position = "concat(_topic, '/', toString(_partition), '/', toString(_offset))"
                self.client.command(
                    f"ALTER TABLE {quote_identifier(deadletters.TABLE)} "
                    f"DELETE WHERE has({format_query_value(letters)}, {position})",
                    settings={"mutations_sync": 2},
                )
            for table, columns in rows.TABLES.items():
                where = where_forgotten(columns, customers, identifiers)
                if where is not None:
                    self.client.command(
                        f"ALTER TABLE {quote_identifier(table)} DELETE WHERE {where}",
                        settings={"mutations_sync": 2},
                    )
            self.client.insert(
                LOG_TABLE,
                [[fingerprint(note.key), note.kind] for note in notes],
                column_names=["fingerprint", "kind"],
            )
