"""Shared fixtures: real Kafka and ClickHouse for the session, unique names per test."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.client import connect, quote_identifier
from pipeline.localstack.kafka import free_port
from pipeline.settings import ClickHouseServer, ClickHouseTarget, EmbeddedClickHouse
from tests.services import clickhouse_service, kafka_service
from tests.support import WorkerProcess, base_env, clickhouse_url

#: What the session's services were, for the summary at the end of the run.
SERVICES: dict[str, str] = {}


def pytest_report_header() -> list[str]:
    return ["services: real Kafka and ClickHouse (env, else Docker, else local stack)"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a test process of `pytest -n`, hand its services to the controlling process."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["services"] = dict(SERVICES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """`pytest -n`: note the services a test process ran (pytest-xdist's hook)."""
    services = getattr(node, "workeroutput", {}).get("services", {})
    SERVICES.update({f"{name} ({node.gateway.id})": how for name, how in services.items()})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real services ran, and how many tests of each tier passed."""
    passed = terminalreporter.stats.get("passed", [])
    tiers = Counter(
        tier
        for report in passed
        for tier in ("unit", "agent", "integration", "e2e", "fault")
        if tier in report.keywords
    )
    terminalreporter.section("journeys")
    for name, how in SERVICES.items():
        terminalreporter.write_line(f"{name}: {how}")
    terminalreporter.write_line(
        "passed per tier: " + ", ".join(f"{tier} {tiers[tier]}" for tier in sorted(tiers))
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker shared by the whole session."""
    with kafka_service(tmp_path_factory.mktemp("kafka")) as (servers, how):
        SERVICES["Kafka"] = f"{servers} ({how})"
        yield servers


@pytest.fixture(scope="session")
def clickhouse_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseTarget]:
    """Where the session's ClickHouse is (embedded in this process unless configured)."""
    with clickhouse_service(tmp_path_factory.mktemp("clickhouse")) as (target, how):
        SERVICES["ClickHouse"] = f"{target.describe()} ({how})"
        yield target


@pytest.fixture
def unique() -> str:
    """A short unique token for this test's topics, groups and databases."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def clickhouse(clickhouse_target: ClickHouseTarget, unique: str) -> Iterator[Client]:
    """A client on a fresh database of its own, dropped after the test."""
    target = dataclasses.replace(clickhouse_target, database=f"test_{unique}")
    client = connect(target)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {quote_identifier(target.database)}")
    client.close()


@pytest.fixture
def worker_factory(
    kafka_bootstrap: str,
    clickhouse_target: ClickHouseTarget,
    unique: str,
    tmp_path: Path,
) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts `journeys worker` processes on this test's topics; all are stopped after.

    With the embedded engine, the worker owns a ClickHouse directory of its own (one
    process per directory), read through its /query/ endpoint; with a server, it uses a
    database of this test's own on it.
    """
    workers: list[WorkerProcess] = []
    if isinstance(clickhouse_target, EmbeddedClickHouse):
        url = f"chdb://{tmp_path / 'worker-clickhouse'}?database=journeys"
    else:
        assert isinstance(clickhouse_target, ClickHouseServer)
        url = clickhouse_url(dataclasses.replace(clickhouse_target, database=f"test_{unique}"))

    def start(command: Sequence[str] | None = None, **env: str) -> WorkerProcess:
        port = free_port()
        defaults = {"JOURNEYS_SINK_BATCH_SECONDS": "0.5"}
        # `env` may override any of these (e.g. a second pipeline under another prefix).
        settings = base_env(
            **{
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "KAFKA_TOPIC_PREFIX": f"t{unique}.",
                "KAFKA_CONSUMER_GROUP": f"journeys-t{unique}",
                "KAFKA_PARTITIONS": "4",
                "CLICKHOUSE_URL": url,
                "JOURNEYS_WORKER_WEB_PORT": str(port),
                "JOURNEYS_WORKER_DATA_DIR": str(tmp_path / f"faust-{len(workers)}"),
                **defaults,
                **env,
            }
        )
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = (
            WorkerProcess(settings, port, log_path, command)
            if command
            else WorkerProcess(settings, port, log_path)
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
