"""A broker whose free port another process takes before it binds it starts on others
(two test processes start their brokers at the same moment)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.localstack import kafka
from pipeline.localstack.kafka import LocalKafka, metadata_round_trip
from tests.support import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_taken_port_makes_the_broker_start_on_other_ports(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_out: list[int] = []
    real_free_port = kafka.free_port

    def free_port() -> int:  # the first port handed out is taken by the time Kafka binds
        port = taken_port if not handed_out else real_free_port()
        handed_out.append(port)
        return port

    monkeypatch.setattr(kafka, "free_port", free_port)
    broker = LocalKafka(tmp_path / "kafka", REPO / ".cache").start()
    try:
        assert broker.port != taken_port
        assert taken_port not in (broker.port, broker.controller_port)
        assert metadata_round_trip(broker.bootstrap_servers)
        assert "Address already in use" in broker.log_file.read_text()  # the first try
    finally:
        broker.stop()
    assert len(handed_out) >= 4  # two ports for the refused start, two for the one that ran
