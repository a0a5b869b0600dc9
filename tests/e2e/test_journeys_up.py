"""`journeys up`, the main job: a broker, migrations and a worker, all gone after Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.localstack.kafka import free_port, pid_alive, port_open
from tests.support import REPO, WorkerProcess, base_env, wait_until

pytestmark = pytest.mark.e2e


def test_up_runs_the_local_stack_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    web_port = free_port()
    log_path = tmp_path / "up.log"
    env = base_env(
        JOURNEYS_LOCAL_KAFKA_DIR=str(tmp_path / "kafka"),
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}",
        JOURNEYS_WORKER_WEB_PORT=str(web_port),
        JOURNEYS_WORKER_DATA_DIR=str(tmp_path / "faust"),
    )
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "up"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reader = WorkerProcess(env, web_port, log_path)  # only for its /query/ client
    try:
        wait_until(lambda: _answers(reader) or up.poll() is not None, 120, "the worker of `up`")
        assert up.poll() is None, log_path.read_text()
        tables = {row["name"] for row in reader.query("SHOW TABLES")}
        assert {"schema_migrations", "dead_letters"} <= tables
        output = log_path.read_text()
        kafka_port = int(re.search(r"Kafka is up at 127\.0\.0\.1:(\d+)", output)[1])  # type: ignore[index]
        assert port_open(kafka_port)
        up.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert up.wait(60) == 0, log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    output = log_path.read_text()
    assert "Stopped the worker and the local broker." in output
    assert not port_open(kafka_port)
    assert not port_open(web_port)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "kafka")], capture_output=True, text=True, check=False
    ).stdout.split()
    assert not [pid for pid in leftovers if pid_alive(int(pid))], "a broker process survived"


def _answers(reader: WorkerProcess) -> bool:
    try:
        return reader.query("SELECT 1") == [{"1": 1}]
    except OSError:
        return False
