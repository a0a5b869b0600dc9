"""The worker's HTTP endpoints.

The embedded ClickHouse engine belongs to one process, the worker; while it runs,
analysts (`journeys query`) and tests read through here:

    POST /query/    body: {"sql": "SELECT ... {day:Date}", "params": {"day": "2026-03-01"}}
                    ->  {"columns": [...], "types": [...], "rows": [[...]]}
    GET /healthz    200 while the worker's event loop answers
    GET /readyz     200 {"ready": true, ...} while it owns partitions, its last flush
                    (ClickHouse rows, state, acknowledgements) completed recently and
                    its lag is bounded; 503 with the reasons otherwise (e.g. while
                    ClickHouse refuses writes); see pipeline.health
    GET /metrics    Prometheus metrics (pipeline.telemetry, docs/operations.md)
    GET|POST /clickhouse   ClickHouse's HTTP interface, read-only, for BI tools, with the
                    embedded engine only (pipeline.clickhouse_http)
    GET /map/       the journey map page (pipeline.journey_map); its data at
                    /map/data?from=2026-03-02&to=2026-03-29&channel=email

Queries run with ClickHouse's `readonly=1`, each on a connection of its own, so this
endpoint can never change data, and a refused query cannot affect the pipeline's writes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import faust
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from faust.web import Request, Response, View

from pipeline import clickhouse_http
from pipeline.clickhouse.client import ReadOnlyQueries
from pipeline.health import Readiness
from pipeline.journey_map.data import MapFilters, answer
from pipeline.query import to_json
from pipeline.telemetry import CONTENT_TYPE, Telemetry


def register_health_views(app: faust.App, health: Callable[[], Readiness]) -> None:
    """Serve GET /healthz and /readyz (`health()`'s verdict) on the worker's web server."""

    @app.page("/healthz")
    class Alive(View):
        async def get(self, request: Request) -> Response:
            return self.json({"alive": True})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            verdict = health()
            return self.json(asdict(verdict), status=200 if verdict.ready else 503)


def register_metrics_view(app: faust.App, telemetry: Telemetry) -> None:
    """Serve GET /metrics, for Prometheus."""

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(telemetry.exposition(), content_type=CONTENT_TYPE)


def run_read_only(
    queries: ReadOnlyQueries, sql: str, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one read-only query; the answer as columns and rows."""
    result = queries.query(sql, params)
    return {
        "columns": list(result.column_names),
        "types": [column_type.name for column_type in result.column_types],
        "rows": [list(row) for row in result.result_rows],
    }


def register_clickhouse_http(app: faust.App, queries: ReadOnlyQueries) -> None:
    """Serve ClickHouse's HTTP interface, read-only, at /clickhouse (BI tools' HTTP path)."""

    @app.page("/clickhouse")
    class ClickHouseHttp(View):
        async def get(self, request: Request) -> Response:
            return await self._answer(request)

        async def post(self, request: Request) -> Response:
            return await self._answer(request)

        async def _answer(self, request: Request) -> Response:
            body = await request.read()
            got = await asyncio.to_thread(
                clickhouse_http.answer, queries, dict(request.query), body
            )
            return self.bytes(got.body, status=got.status, headers=got.headers)


def register_query_view(app: faust.App, queries: ReadOnlyQueries) -> None:
    """Serve POST /query/ on the worker's web server."""

    @app.page("/query/")
    class QueryView(View):
        async def post(self, request: Request) -> Response:
            try:
                body = await request.json()
                sql = body["sql"]
                params = body.get("params") or {}
                if not isinstance(sql, str):
                    raise TypeError("sql must be a string")
                if not isinstance(params, dict) or not all(
                    isinstance(v, str) for v in params.values()
                ):
                    raise TypeError("params must map names to strings")
            except (ValueError, KeyError, TypeError) as error:
                return self.error(
                    400, f'send JSON {{"sql": "SELECT ...", "params": {{...}}}}: {error}'
                )
            try:
                answer = await asyncio.to_thread(run_read_only, queries, sql, params)
            except DriverError as error:
                return self.error(400, str(error))
            return self.bytes(
                json.dumps(answer, default=to_json).encode(),
                content_type="application/json",
            )


#: The journey map's files and their types (nothing else under /map/assets/ is served).
MAP_ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "map.js": "text/javascript; charset=utf-8",
    "map.css": "text/css; charset=utf-8",
}


def register_journey_map(app: faust.App, queries: ReadOnlyQueries) -> None:
    """Serve the journey map at /map/, its assets and its data (read-only queries)."""
    assets = resources.files("pipeline.journey_map") / "assets"

    def asset(view: View, name: str) -> Response:
        if name not in MAP_ASSETS:
            return view.error(404, f"no such file: {name}")
        headers = {"Content-Type": MAP_ASSETS[name], "Cache-Control": "no-cache"}
        return view.bytes((assets / name).read_bytes(), headers=headers)

    @app.page("/map")
    class MapHome(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(b"", status=302, headers={"Location": "map/"})

    @app.page("/map/")
    class MapPage(View):
        async def get(self, request: Request) -> Response:
            return asset(self, "index.html")

    @app.page("/map/assets/{name}")
    class MapAsset(View):
        async def get(self, request: Request, name: str) -> Response:
            return asset(self, name)

    @app.page("/map/data")
    class MapData(View):
        async def get(self, request: Request) -> Response:
            try:
                filters = MapFilters.parse(dict(request.query))
            except ValueError as error:
                return self.error(400, str(error))
            try:
                body = await asyncio.to_thread(answer, queries.query, filters, datetime.now(UTC))
            except DriverError as error:
                return self.error(503, str(error))
            return self.bytes(
                json.dumps(body, default=to_json).encode(), content_type="application/json"
            )
