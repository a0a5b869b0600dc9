"""Connecting to ClickHouse: the embedded engine (chdb) or a server, one client API.

Usage:
    client = connect(settings.clickhouse.target)        # creates the database if missing
    client.query("SELECT count() FROM touchpoints").result_rows
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.query import QueryResult

from pipeline.errors import ClickHouseError
from pipeline.settings import ClickHouseServer, ClickHouseTarget, EmbeddedClickHouse

T = TypeVar("T")

#: Settings that make a query read-only on either kind of ClickHouse.
READ_ONLY: dict[str, Any] = {"readonly": 1}


def read_only_settings(client: Client) -> dict[str, Any]:
    """READ_ONLY, or nothing when the client's user is read-only already: such a user
    (Compose's analyst, `readonly` 2 and fixed) may not set `readonly`, and
    clickhouse-connect refuses to send it."""
    current = client.server_settings.get("readonly")
    return {} if current is not None and current.value not in ("", "0") else READ_ONLY


class ReadOnlyQueries:
    """Analysts' queries (and the worker's own: summary, health) on a connection of their
    own, never the writer's.

    A query ClickHouse refuses in read-only mode leaves `readonly=1` set on the
    connection it ran on (clickhouse-connect applies per-call settings of such a
    statement with `SET` and cannot restore them from a read-only session): on the
    writer's connection every later insert would then fail. On this one it changes
    nothing, as every query here is read-only. The connection is opened at the first
    query (with the embedded engine, a new handle on the engine the worker already
    runs: ~15 ms of CPU, ten times the query) and again after one that failed. With a
    `timeout`, ClickHouse stops a query that runs longer (seconds; TIMEOUT_EXCEEDED)."""

    def __init__(
        self, target: ClickHouseTarget, lock: threading.Lock, timeout: float | None = None
    ) -> None:
        self.target = target
        self.lock = lock  # held for each call: the engine's, or this connection's own
        self._limits: dict[str, Any] = {"max_execution_time": timeout} if timeout else {}
        self._client: Client | None = None

    def query(self, sql: str, parameters: Mapping[str, str] | None = None) -> QueryResult:
        """`sql`'s result, with `parameters` for its `{name:Type}` placeholders;
        clickhouse-connect's error if ClickHouse refuses it."""
        return self._run(
            lambda client: client.query(
                sql,
                parameters=dict(parameters) if parameters else None,
                settings=self._settings(client),
            )
        )

    def raw(self, sql: str, parameters: Mapping[str, str], fmt: str | None) -> bytes:
        """`sql`'s result as ClickHouse writes it in format `fmt` (None: the statement's
        own FORMAT clause)."""
        return self._run(
            lambda client: client.raw_query(
                sql,
                parameters=dict(parameters) or None,
                settings=self._settings(client),
                fmt=fmt,
            )
        )

    def _settings(self, client: Client) -> dict[str, Any]:
        # The limits first: once `readonly` is 1, ClickHouse lets no setting change.
        return {**self._limits, **read_only_settings(client)}

    def _run(self, call: Callable[[Client], T]) -> T:
        with self.lock:
            if self._client is None:
                self._client = connect(self.target, create_database=False)
            try:
                return call(self._client)
            except BaseException:
                client, self._client = self._client, None
                client.close()
                raise


def connect(target: ClickHouseTarget, create_database: bool = True) -> Client:
    """A clickhouse-connect client on `target`'s database (created first unless told not to)."""
    try:
        if create_database:
            _open(target, database=None).command(
                f"CREATE DATABASE IF NOT EXISTS {quote_identifier(target.database)}"
            )
        return _open(target, database=target.database)
    except DriverError as error:
        raise ClickHouseError(f"cannot use {target.describe()}: {error}") from error
    except OSError as error:
        raise ClickHouseError(f"cannot reach {target.describe()}: {error}") from error


def _open(target: ClickHouseTarget, database: str | None) -> Client:
    if isinstance(target, EmbeddedClickHouse):
        if importlib.util.find_spec("chdb") is None:
            raise ClickHouseError(
                f"CLICKHOUSE_URL points at an embedded engine ({target.describe()}) but chdb "
                "is not installed: pip install 'journeys[local]', or point CLICKHOUSE_URL at "
                "a ClickHouse server"
            )
        target.path.mkdir(parents=True, exist_ok=True)
        # chdb binds one data directory per process; a second path raises here.
        return clickhouse_connect.get_client(
            interface="chdb", path=str(target.path), database=database
        )
    assert isinstance(target, ClickHouseServer)
    return clickhouse_connect.get_client(
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password.get_secret_value(),
        database=database or "default",
        secure=target.secure,
        connect_timeout=10,
        send_receive_timeout=300,
    )


def quote_identifier(name: str) -> str:
    """Backquote a ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
