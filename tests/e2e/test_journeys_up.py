"""The README's first command, `make up`: a broker, migrations, the worker and demo
traffic; within three minutes ClickHouse holds what the demo made; an analyst's refused
DROP does not stop ingestion; Ctrl-C stops everything within 30 seconds and leaves no
process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from pipeline.localstack.kafka import free_port, port_open
from tests.support import REPO, WorkerProcess, base_env, wait_until

pytestmark = pytest.mark.e2e

FILLED = """
SELECT (SELECT count() FROM touchpoints) AS touchpoints,
       (SELECT count() FROM sessions) AS sessions,
       (SELECT count() FROM stage_transitions) AS transitions,
       (SELECT count() FROM conversion_counts WHERE passed + dropped_off > 0) AS counts,
       (SELECT count() FROM dead_letters) AS dead_letters
"""


#: The promise of a stop signal (worker, demo traffic and broker together).
STOP_WITHIN = 30.0


def test_make_up_runs_the_demo_survives_a_refused_drop_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    web_port = free_port()
    log_path = tmp_path / "up.log"
    env = base_env(
        JOURNEYS_LOCAL_KAFKA_DIR=str(tmp_path / "kafka"),
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}",
        JOURNEYS_WORKER_WEB_PORT=str(web_port),
        JOURNEYS_WORKER_DATA_DIR=str(tmp_path / "faust"),
    )
    started = time.monotonic()
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            ["make", "up"],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as in a terminal
        )
    group = psutil.Process(up.pid)
    reader = WorkerProcess(env, web_port, log_path)  # only for its /query/ client
    family: set[int] = set()
    try:

        def filled() -> dict[str, int] | None:
            assert up.poll() is None, log_path.read_text()
            family.update(child.pid for child in group.children(recursive=True))
            try:
                [row] = reader.query(FILLED)
            except OSError:
                return None
            every_table = all(row[name] > 0 for name in row if name != "dead_letters")
            return row if every_table and row["touchpoints"] > 100 else None

        wait_until(filled, 180 - (time.monotonic() - started), "the demo's output", 2)
        output = log_path.read_text()
        kafka_port = int(re.search(r"Kafka is up at 127\.0\.0\.1:(\d+)", output)[1])  # type: ignore[index]
        assert port_open(kafka_port)
        wait_until(lambda: "journeys touchpoints" in log_path.read_text(), 30, "a live summary")
        page = re.search(r"^journey map: (http://\S+)$", log_path.read_text(), re.MULTILINE)
        assert page, "the live summary prints the journey map's address"
        check_map_is_served(page[1])
        drop = subprocess.run(
            [sys.executable, "-m", "pipeline", "query", "DROP TABLE touchpoints"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert drop.returncode != 0, drop.stdout
        assert "read-only" in drop.stderr.lower() or "readonly" in drop.stderr.lower()
        before = touchpoints(reader)
        wait_until(lambda: touchpoints(reader) > before, 120, "ingestion after the refused DROP")
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
        interrupted = time.monotonic()
        up.wait(90)
        took = time.monotonic() - interrupted
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    output = log_path.read_text()
    assert "Demo traffic:" in output
    assert re.search(r"touchpoints [\d,]+ \(", output), "the live summary"
    assert re.search(r"^worker (ready|NOT READY): ", output, re.MULTILINE), "its health line"
    for stage in ("awareness", "consideration", "decision"):
        assert re.search(rf"^{stage}\s+[\d,]+", output, re.MULTILINE), stage
    print(f"Ctrl-C stopped the worker, the demo traffic and the broker in {took:.1f} s")
    assert took <= STOP_WITHIN, f"Ctrl-C took {took:.0f} s"
    assert "Code: 164" not in output, "a sink insert was refused after the DROP"
    assert "Stopped the demo traffic." in output
    assert "Stopped the worker and the local broker." in output
    assert not port_open(kafka_port)
    assert not port_open(web_port)
    survivors = [pid for pid in family if psutil.pid_exists(pid) and not _zombie(pid)]
    assert survivors == [], [psutil.Process(pid).cmdline() for pid in survivors]
    assert len(family) >= 3, "make's children: journeys up, the broker, the generator"


def check_map_is_served(url: str) -> None:
    """The page, its script and its data answer at `url` (the browser test, in
    test_dropoff_incident, checks what it shows)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        assert "<title>Journeys · journey map</title>" in response.read().decode()
    with urllib.request.urlopen(url + "assets/map.js", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
    with urllib.request.urlopen(url + "data", timeout=60) as response:
        data = json.loads(response.read())
    assert [row["stage"] for row in data["funnel"]][:3] == [
        "awareness",
        "consideration",
        "decision",
    ]
    assert data["funnel"][0]["customers"] > 0, data["funnel"]


def touchpoints(reader: WorkerProcess) -> int:
    return int(reader.query("SELECT count() AS n FROM touchpoints")[0]["n"])


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
