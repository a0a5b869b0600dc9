"""What the worker's web server lets a caller do: read-only queries, nothing else.
Queries that try to change data are refused through /query/, and ingestion goes on
afterwards: a refused query cannot leave the pipeline's own ClickHouse connection
read-only (it did: every insert then failed with Code 164). The journey map's filters
cannot smuggle SQL in. Faust's own views (its state table, identity records included, and
its internals) are not served."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.bench.traffic import bench_events, produce_all
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, processed, wait_until

pytestmark = pytest.mark.e2e

EVENTS = 400
#: The backlog's sessions close soon after it is taken (so its touchpoints are stored).
SETTINGS = {"JOURNEYS_SESSIONS_IDLE_AFTER": "3", "JOURNEYS_SESSIONS_IDLE_RATE": "86400"}

HOSTILE = (
    "DROP TABLE touchpoints",
    "TRUNCATE TABLE sessions",
    "INSERT INTO touchpoints (event_id) VALUES ('x')",
    "ALTER TABLE touchpoints DELETE WHERE 1",
    "SET readonly = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT 1; DROP TABLE touchpoints",
    "SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')",
)


def get(worker: WorkerProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=30):
            return 200
    except urllib.error.HTTPError as error:
        return error.code


def post(worker: WorkerProcess, sql: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.web_port}/query/",
        data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_refused_queries_change_nothing_and_ingestion_goes_on(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**SETTINGS)
    tables = worker.query("SELECT count() AS n FROM system.tables WHERE database = 'journeys'")
    for sql in HOSTILE:
        status, answer = post(worker, sql)
        assert status == 400, (sql, answer)
        assert "readonly" in answer["error"].lower() or "Code:" in answer["error"], answer
    assert worker.query("SELECT count() AS n FROM system.tables WHERE database = 'journeys'") == (
        tables
    )

    produce_all(kafka_bootstrap, TopicNames(f"t{unique}."), bench_events(EVENTS), partitions=4)
    wait_until(lambda: processed(worker) >= EVENTS, 300, "the events stored after the refusals")
    assert "Code: 164" not in worker.log_tail(400), "an insert was refused"
    assert post(worker, "SELECT count() AS n FROM touchpoints")[0] == 200
    # Faust's views: its state table (identity records: `<p>|i|email:<hash>`), its
    # router, graph and stats.
    for path in ("/table/state/", "/table/state/0|i|anon:x/", "/router/", "/graph/", "/stats/"):
        assert get(worker, path) == 404, path
    # The journey map binds its filters as query parameters: SQL in a filter is a value no
    # customer has; a bad day is refused naming it; only the page's own files are served.
    injected = urllib.parse.quote("x' OR 1=1; DROP TABLE touchpoints --")
    with urllib.request.urlopen(
        f"http://127.0.0.1:{worker.web_port}/map/data?channel={injected}", timeout=60
    ) as response:
        data = json.loads(response.read())
    assert data["filters"]["channel"].startswith("x' OR 1=1")
    assert [row["customers"] for row in data["funnel"]] == [0] * len(data["funnel"])
    assert data["flows"] == []
    assert get(worker, "/map/data?from=2026-13-01") == 400
    for path in ("/map/assets/data.py", "/map/assets/..%2Fdata.py", "/map/assets/../data.py"):
        assert get(worker, path) == 404, path
    assert worker.query("SELECT count() AS n FROM touchpoints")[0]["n"] >= EVENTS


def test_a_runaway_query_is_stopped_at_the_timeout_and_ingestion_goes_on(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    # With the embedded engine, a query holds the engine (the worker's inserts wait for
    # it): one that would run for hours is stopped after CLICKHOUSE_QUERY_TIMEOUT.
    worker = worker_factory(CLICKHOUSE_QUERY_TIMEOUT="2", **SETTINGS)
    produce_all(kafka_bootstrap, TopicNames(f"t{unique}."), bench_events(EVENTS), partitions=4)
    status, answer = post(worker, "SELECT sum(cityHash64(number)) FROM numbers(1e13)")
    assert status == 400, answer
    assert "TIMEOUT_EXCEEDED" in answer["error"], answer
    wait_until(lambda: processed(worker) >= EVENTS, 300, "the events stored after the query")
    status, answer = post(worker, "SELECT count() AS n FROM touchpoints")
    assert status == 200 and answer["rows"][0][0] >= EVENTS, answer
