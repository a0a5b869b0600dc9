"""Where the tests' Kafka and ClickHouse come from, in this order:

1. the environment: `KAFKA_BOOTSTRAP_SERVERS`, `CLICKHOUSE_URL`;
2. a Docker engine that answers a ping: testcontainers;
3. the local stack: a real broker from the official jars, the embedded ClickHouse engine.

Every choice is a real Kafka and a real ClickHouse: nothing is skipped or mocked.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr

from pipeline.localstack.kafka import LocalKafka
from pipeline.settings import (
    ClickHouseServer,
    ClickHouseTarget,
    EmbeddedClickHouse,
    parse_clickhouse_url,
)

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("JOURNEYS_LOCAL_CACHE_DIR", REPO / ".cache"))


def docker_available() -> bool:
    """Whether a Docker engine answers a ping within a few seconds."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # any failure means: no usable engine here
        return False
    return True


@contextlib.contextmanager
def kafka_service(workdir: Path) -> Iterator[tuple[str, str]]:
    """Yields (bootstrap servers, how it was provided)."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured, "KAFKA_BOOTSTRAP_SERVERS"
        return
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server(), "testcontainers"
        return
    with LocalKafka(workdir / "kafka", cache_dir=CACHE) as kafka:
        yield kafka.bootstrap_servers, "local broker (official jars)"


@contextlib.contextmanager
def clickhouse_service(workdir: Path) -> Iterator[tuple[ClickHouseTarget, str]]:
    """Yields (where ClickHouse is, how it was provided)."""
    configured = os.environ.get("CLICKHOUSE_URL")
    if configured:
        yield parse_clickhouse_url(configured, None), "CLICKHOUSE_URL"
        return
    if docker_available():
        from testcontainers.community.clickhouse import ClickHouseContainer

        with ClickHouseContainer("clickhouse/clickhouse-server:25.8") as container:
            yield (
                ClickHouseServer(
                    host=container.get_container_host_ip(),
                    port=int(container.get_exposed_port(8123)),
                    username=container.username,
                    password=SecretStr(container.password),
                    database="journeys",
                    secure=False,
                ),
                "testcontainers",
            )
        return
    yield EmbeddedClickHouse(path=workdir / "clickhouse", database="journeys"), "embedded (chdb)"
