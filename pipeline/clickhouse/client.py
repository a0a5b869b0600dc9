"""Connecting to ClickHouse: the embedded engine (chdb) or a server, one client API.

Usage:
    client = connect(settings.clickhouse.target)        # creates the database if missing
    client.query("SELECT count() FROM touchpoints").result_rows
"""

from __future__ import annotations

from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from pipeline.errors import ClickHouseError
from pipeline.settings import ClickHouseServer, ClickHouseTarget, EmbeddedClickHouse

#: Settings that make a query read-only on either kind of ClickHouse.
READ_ONLY: dict[str, Any] = {"readonly": 1}


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
