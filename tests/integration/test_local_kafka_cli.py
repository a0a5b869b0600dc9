"""`journeys kafka start|status|stop`: a real broker in the background, and gone after."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.localstack.kafka import metadata_round_trip, pid_alive, port_open
from tests.support import REPO, base_env

pytestmark = pytest.mark.integration


def journeys(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_start_status_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    env = base_env(JOURNEYS_LOCAL_KAFKA_DIR=str(tmp_path / "kafka"))
    started_at = time.monotonic()
    started = journeys("kafka", "start", env=env)
    took = time.monotonic() - started_at
    assert started.returncode == 0, started.stdout + started.stderr
    print(f"broker up in {took:.1f} s")  # the issue asks < 60 s warm; measured, not asserted
    try:
        status = journeys("kafka", "status", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        pid = int(re.search(r"running: pid (\d+)", status.stdout)[1])  # type: ignore[index]
        port = int(re.search(r"bootstrap servers: 127\.0\.0\.1:(\d+)", status.stdout)[1])  # type: ignore[index]
        controller = int(re.search(r"controller port: (\d+)", status.stdout)[1])  # type: ignore[index]
        assert f"data directory: {tmp_path / 'kafka'}" in status.stdout
        assert metadata_round_trip(f"127.0.0.1:{port}")
        again = journeys("kafka", "start", env=env)
        assert f"already running: 127.0.0.1:{port} (pid {pid})" in again.stdout
    finally:
        stopped = journeys("kafka", "stop", env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopped pid {pid}" in stopped.stdout
    assert not pid_alive(pid)
    assert not port_open(port)
    assert not port_open(controller)
    after = journeys("kafka", "status", env=env)
    assert (after.returncode, after.stdout.strip()) == (3, "not running")


def test_start_without_java_explains_what_to_do(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = base_env(JOURNEYS_LOCAL_KAFKA_DIR=str(tmp_path / "kafka"), PATH=str(bin_dir))
    env.pop("JAVA_HOME", None)
    result = journeys("kafka", "start", env=env)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "Java 17+ is needed to run the local Kafka broker" in message
    assert "apt-get install openjdk-17-jre-headless" in message
    assert "KAFKA_BOOTSTRAP_SERVERS" in message
    assert "Traceback" not in result.stderr


def test_first_start_without_maven_explains_what_to_do(tmp_path: Path) -> None:
    java = Path(
        os.path.realpath(
            subprocess.run(
                ["sh", "-c", "command -v java"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    env = base_env(
        JOURNEYS_LOCAL_KAFKA_DIR=str(tmp_path / "kafka"),
        JOURNEYS_LOCAL_CACHE_DIR=str(tmp_path / "empty-cache"),
        PATH=str(bin_dir),
    )
    env.pop("JAVA_HOME", None)
    result = journeys("kafka", "start", env=env)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "Maven is needed once to download the Kafka broker jars" in message
    assert "apt-get install maven" in message


def test_an_invalid_stage_model_stops_the_worker_with_file_line_and_reason(tmp_path: Path) -> None:
    model = tmp_path / "stages.yml"
    model.write_text("name: x\nstages: [a, b]\nrules:\n  - stage: c\n    action: ad_click\n")
    env = base_env(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # never reached: the model fails first
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
        JOURNEYS_STAGES_MODEL_FILE=str(model),
    )
    result = journeys("worker", env=env)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"configuration error: {model}:4: unknown stage 'c'" in message
    assert "Traceback" not in result.stderr
