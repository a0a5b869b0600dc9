"""Demo traffic as a child process of `journeys up --demo`.

A separate process, so that generating does not share the worker's interpreter (and its
GIL), and so that stopping it is a signal, not a thread to unwind.

Usage:
    demo = start_demo_traffic("127.0.0.1:9092", DemoTraffic())
    ...
    stop_process(demo, timeout=10)      # pipeline.subprocesses
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from pipeline.subprocesses import die_with_parent


@dataclass(frozen=True)
class DemoTraffic:
    """What `journeys up --demo` generates: a week of history, replayed 600 times faster
    than real time (about 17 minutes), then live traffic."""

    seed: int = 42
    customers_per_day: float = 1500
    days: float = 7
    speed: float = 600

    def arguments(self) -> list[str]:
        return [
            "generate",
            "--live",
            "--quiet",
            f"--seed={self.seed}",
            f"--customers-per-day={self.customers_per_day}",
            f"--days={self.days}",
            f"--speed={self.speed}",
        ]


def start_demo_traffic(bootstrap_servers: str, demo: DemoTraffic) -> subprocess.Popen[bytes]:
    """`journeys generate --live ...` against `bootstrap_servers`, in the background."""
    # The parent's settings (topic prefix, partitions) hold for the generator too.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *demo.arguments()],
        env=env,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - only calls prctl
    )
