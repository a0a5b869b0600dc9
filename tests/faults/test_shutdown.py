"""Shutdown always finishes: SIGTERM or SIGINT stops the worker within 30 seconds even
while ClickHouse refuses every write, and what it could not flush is read again by the
next worker (nothing lost, nothing doubled); `journeys up` killed outright takes its
demo traffic with it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from pipeline.localstack.kafka import free_port
from tests.support import (
    FAULT_SETTINGS,
    REPO,
    WorkerProcess,
    base_env,
    page_views,
    produce,
    stored,
    wait_until,
)

pytestmark = pytest.mark.fault

#: The promise: a stop signal ends the worker within this many seconds, whatever the sinks do.
STOP_WITHIN = 30.0


def taken(worker: WorkerProcess) -> str:
    """The worker's log, where a refused flush shows as a retry."""
    return worker.log_path.read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_worker_while_clickhouse_refuses_writes(
    sig: signal.Signals,
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    flag = tmp_path / "clickhouse-down"
    topic = f"t{unique}.touchpoints.raw.web"
    faulty = ["-m", "tests.faulty_worker"]
    worker = worker_factory(faulty, JOURNEYS_TEST_CLICKHOUSE_DOWN=str(flag), **FAULT_SETTINGS)
    produce(kafka_bootstrap, topic, page_views(0, 500))
    wait_until(lambda: stored(worker)["ids"] >= 500, 120, "the first events stored")
    flag.touch()  # from now on every write fails as if ClickHouse were unreachable
    produce(kafka_bootstrap, topic, page_views(500, 500))
    wait_until(lambda: "Retrying" in taken(worker), 120, "a flush that cannot write")
    process = worker.process
    assert process is not None
    began = time.monotonic()
    process.send_signal(sig)
    try:
        code: int | None = process.wait(STOP_WITHIN + 30)
    except subprocess.TimeoutExpired:  # the failure this test exists for
        code = None
    took = time.monotonic() - began
    worker.stop()  # SIGKILL if it did not stop by itself
    print(f"stopped by {sig.name} in {took:.1f} s with exit code {code}")
    assert took <= STOP_WITHIN, f"took {took:.0f} s to stop:\n{worker.log_tail()}"
    assert "gave up" in taken(worker), "the log says what was left for redelivery"
    # What the stopped worker could not write is read again by the next one.
    flag.unlink()
    second = worker_factory(**FAULT_SETTINGS)
    wait_until(lambda: stored(second)["ids"] >= 1000, 180, "every event stored")
    time.sleep(2)
    counts = stored(second)
    assert counts["ids"] == 1000, counts
    assert counts["visible"] == 1000, f"analysts see each event once: {counts}"


def test_killing_journeys_up_leaves_no_demo_traffic_behind(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    # On the session's broker (a local one would die with its parent too, and the demo
    # traffic would then end for want of a broker, which proves nothing).
    env = base_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=f"t{unique}.",
        KAFKA_CONSUMER_GROUP=f"journeys-t{unique}",
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}",
        JOURNEYS_WORKER_WEB_PORT=str(free_port()),
        JOURNEYS_WORKER_DATA_DIR=str(tmp_path / "faust"),
    )
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "up", "--demo"],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: list[psutil.Process] = []
    try:

        def demo_running() -> bool:
            assert up.poll() is None, log_path.read_text()
            children[:] = psutil.Process(up.pid).children(recursive=True)
            return any("generate" in " ".join(_cmdline(child)) for child in children)

        wait_until(demo_running, 120, "the demo traffic")
        time.sleep(1)  # past its start-up: it would go on alone
        up.kill()  # SIGKILL: no shutdown work at all in the parent
        up.wait()
        wait_until(
            lambda: not [c for c in children if c.is_running() and not _zombie(c)],
            60,
            "the demo traffic to end with its parent",
        )
    finally:
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if up.poll() is None:
            up.kill()
            up.wait()


def _zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cmdline(process: psutil.Process) -> list[str]:
    """A process's command line; empty once it has ended (a short-lived child can end
    between listing the children and asking)."""
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
