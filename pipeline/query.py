"""Read-only queries for analysts, wherever ClickHouse is.

With the embedded engine, only one process may own the data directory: while a worker
runs, the query goes through the worker's /query/ endpoint; otherwise the directory is
opened here. A ClickHouse server is queried directly. Either way the query runs with
`readonly=1`, so it can never change data.

Usage:
    answer = run_query(settings, "SELECT stage, customers FROM funnel_by_stage")
    answer = run_query(settings, "SELECT ... WHERE day >= {since:Date}", {"since": "2026-03-01"})
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from pipeline.clickhouse.client import connect, read_only_settings
from pipeline.errors import ClickHouseError, ReadOnlyQueryError
from pipeline.settings import EmbeddedClickHouse, Settings

_READONLY_CODE = "Code: 164"


@dataclass(frozen=True)
class Answer:
    """A query's columns and rows, and where it was answered."""

    columns: list[str]
    rows: list[list[Any]]
    via: str


def to_json(value: Any) -> Any:
    """JSON-safe form of a ClickHouse value (times as ISO 8601, bytes as text)."""
    if isinstance(value, datetime):
        # clickhouse-connect returns DateTime64(3, 'UTC') as naive UTC datetimes.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


#: A way to ask ClickHouse, read-only: SQL -> rows.
Ask = Callable[[str], Sequence[Sequence[Any]]]


def asker(settings: Settings) -> Ask:
    """`run_query`'s rows, as an `Ask` (through the running worker, or directly)."""
    return lambda sql: run_query(settings, sql).rows


def run_query(settings: Settings, sql: str, parameters: Mapping[str, str] | None = None) -> Answer:
    """Answer `sql` read-only, its `{name:Type}` placeholders bound to `parameters`;
    ReadOnlyQueryError if it tries to write."""
    target = settings.clickhouse.target
    if isinstance(target, EmbeddedClickHouse):
        url = f"{settings.worker.web_url}/query/"
        answer = _via_worker(url, sql, parameters or {})
        if answer is not None:
            return answer
    try:
        client = connect(target, create_database=False)
    except ClickHouseError as error:
        if "lock" in str(error).lower():
            raise ClickHouseError(
                f"{target.describe()} is in use by another process, and no worker answers on "
                f"{settings.worker.web_host}:{settings.worker.web_port} "
                "(JOURNEYS_WORKER_WEB_PORT): query through that worker, or stop the process"
            ) from error
        raise
    try:
        result = client.query(
            sql,
            parameters=dict(parameters) if parameters else None,
            settings=read_only_settings(client),
        )
    except DriverError as error:
        raise _explained(str(error)) from error
    finally:
        client.close()
    return Answer(
        list(result.column_names), [list(row) for row in result.result_rows], target.describe()
    )


def _via_worker(url: str, sql: str, parameters: Mapping[str, str]) -> Answer | None:
    """The worker's answer, or None when no worker listens there."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"sql": sql, "params": dict(parameters)}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("error", str(error))
        raise _explained(message) from error
    except (urllib.error.URLError, ConnectionError):
        return None
    return Answer(body["columns"], body["rows"], f"the worker at {url}")


def _explained(message: str) -> ClickHouseError:
    if _READONLY_CODE in message or "READONLY" in message:
        return ReadOnlyQueryError(
            "journeys query is read-only: statements that change data or schema are refused "
            "(data changes only through the pipeline)"
        )
    return ClickHouseError(message)
