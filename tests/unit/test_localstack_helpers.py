"""Local stack helpers that need no broker: Java detection, heap sizes, ports."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from pipeline.errors import MissingToolError
from pipeline.localstack.kafka import (
    free_port,
    java_executable,
    java_major_version,
    min_heap,
    port_open,
)

pytestmark = pytest.mark.unit


def fake_java(folder: Path, version_line: str) -> Path:
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return java


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "21" 2023-09-19', 21),
    ],
)
def test_java_major_version(tmp_path: Path, line: str, major: int) -> None:
    assert java_major_version(str(fake_java(tmp_path, line))) == major


def test_old_java_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_java(tmp_path, 'java version "1.8.0_292"')
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingToolError, match=r"Java 8; the Kafka 4 broker needs Java 17\+"):
        java_executable()


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingToolError) as raised:
        java_executable()
    assert "openjdk-17-jre-headless" in str(raised.value)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(raised.value)


def test_min_heap_is_a_quarter_with_a_floor() -> None:
    assert min_heap("2g") == "512m"
    assert min_heap("512m") == "128m"
    assert min_heap("100m") == "64m"


def test_free_port_is_free_and_port_open_sees_listeners() -> None:
    port = free_port()
    assert not port_open(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_open(port)
