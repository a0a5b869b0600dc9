"""`journeys query` while a worker owns the embedded engine: answered by the worker."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.integration.test_local_kafka_cli import journeys
from tests.support import WorkerProcess

pytestmark = pytest.mark.e2e


def test_query_goes_through_the_running_worker(
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    worker = worker_factory()
    env = dict(worker.env)
    answer = journeys(
        "query", "SELECT stage FROM stage_model ORDER BY rank", "--format", "json", env=env
    )
    assert answer.returncode == 0, answer.stderr
    stages = [json.loads(line)["stage"] for line in answer.stdout.splitlines()]
    assert stages == ["awareness", "consideration", "decision", "retention", "advocacy"]
    table = journeys("query", "SELECT 1 AS one", env=env)
    assert f"from the worker at http://127.0.0.1:{worker.web_port}/query/" in " ".join(
        table.stdout.split()
    )
    refused = journeys("query", "TRUNCATE TABLE sessions", env=env)
    assert refused.returncode == 1
    assert "journeys query is read-only" in " ".join(refused.stderr.split())
    bound = journeys(
        "query", "SELECT stage FROM stage_model WHERE rank = {rank:UInt8}", "-p", "rank=2",
        "--format", "json", env=env,
    )  # fmt: skip
    assert [json.loads(line) for line in bound.stdout.splitlines()] == [{"stage": "decision"}]


def test_a_bi_tool_reads_the_embedded_engine_through_the_worker_s_clickhouse_http(
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    worker = worker_factory()
    # clickhouse-connect's HTTP client, as a BI tool's ClickHouse driver, with the
    # worker's port and the HTTP path /clickhouse.
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=worker.web_port, proxy_path="/clickhouse",
        database="journeys", compress=False,
    )  # fmt: skip
    try:
        stages = client.query(
            "SELECT stage FROM stage_model WHERE rank >= {rank:UInt8} ORDER BY rank",
            parameters={"rank": 3},
        ).result_rows
        assert stages == [("retention",), ("advocacy",)]
        with pytest.raises(DatabaseError, match="READONLY"):
            client.command("DROP TABLE touchpoints")
        assert client.query("EXISTS TABLE touchpoints").result_rows == [(1,)]
    finally:
        client.close()
    url = f"http://127.0.0.1:{worker.web_port}/clickhouse?query=" + urllib.parse.quote(
        "SELECT stage FROM stage_model WHERE rank = 0 FORMAT JSONEachRow"
    )
    with urllib.request.urlopen(url, timeout=30) as response:
        assert json.loads(response.read()) == {"stage": "awareness"}
