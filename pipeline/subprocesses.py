"""Child processes of Journeys' own commands (demo traffic, bench) and tests.

Usage:
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092")
    process = subprocess.Popen([...], env=env)
    code = stop_process(process)        # SIGTERM, then SIGKILL after the timeout
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

#: The variables Journeys' settings read; a child sets its own.
SETTING_PREFIXES = ("KAFKA_", "CLICKHOUSE_", "JOURNEYS_")


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without Journeys' own variables, plus `overrides`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(SETTING_PREFIXES)}
    env.update(overrides)
    return env


def stop_process(
    process: subprocess.Popen[bytes], timeout: float = 30.0, sig: int = signal.SIGTERM
) -> int:
    """Send `sig` (SIGTERM unless told), wait up to `timeout` seconds, then SIGKILL; the
    exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
