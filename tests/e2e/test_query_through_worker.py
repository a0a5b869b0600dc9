"""`journeys query` while a worker owns the embedded engine: answered by the worker."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

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
