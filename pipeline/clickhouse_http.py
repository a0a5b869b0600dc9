"""ClickHouse's HTTP interface, read-only, in front of the worker's embedded engine.

With the embedded engine (the local stack), no ClickHouse server runs that a BI tool
(Grafana's ClickHouse data source, Metabase, Superset, clickhouse-connect, curl) could
reach. The worker answers the part of ClickHouse's HTTP protocol such tools use, at
`/clickhouse` on its web port (the tools' "HTTP path" setting):

    POST /clickhouse?default_format=JSON   body: SELECT ...
    GET  /clickhouse?query=SELECT+1&param_day=2026-03-01

The statement is the `query` parameter followed by the body; `param_<name>` values bind
its `{name:Type}` placeholders; the result comes in the statement's FORMAT, else
`default_format`, else TabSeparated. Every statement runs with `readonly=1` on the
read-only connection (pipeline.clickhouse.client.ReadOnlyQueries): a write is refused
with ClickHouse's own error (HTTP 500 and its text, as a server answers). Other
parameters (settings, sessions, compression) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from pipeline.clickhouse.client import ReadOnlyQueries

_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_ERROR_CODE = re.compile(r"Code: (\d+)")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


def answer(queries: ReadOnlyQueries, params: Mapping[str, str], body: bytes) -> HttpAnswer:
    """What a ClickHouse server would answer to this HTTP request, read-only."""
    sql = " ".join(part for part in (params.get("query", ""), body.decode()) if part.strip())
    if not sql.strip():
        return _error(400, 62, "Empty query")
    named = _FORMAT_CLAUSE.search(sql)
    fmt = named.group(1) if named else params.get("default_format") or "TabSeparated"
    bound = {name[6:]: value for name, value in params.items() if name.startswith("param_")}
    try:
        result = queries.raw(sql, bound, None if named else fmt)
    except DriverError as error:
        text = str(error)
        code = _ERROR_CODE.search(text)
        return _error(500, int(code.group(1)) if code else 1000, text)
    headers = {
        "X-ClickHouse-Format": fmt,
        "X-ClickHouse-Timezone": "UTC",
        "Content-Type": "text/plain; charset=UTF-8",
    }
    return HttpAnswer(200, result, headers)


def _error(status: int, code: int, text: str) -> HttpAnswer:
    message = text if text.startswith("Code:") else f"Code: {code}. DB::Exception: {text}"
    return HttpAnswer(status, message.encode(), {"X-ClickHouse-Exception-Code": str(code)})
