"""Child processes of Journeys' own commands (demo traffic, bench) and tests.

Usage:
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092")
    process = subprocess.Popen([...], env=env, preexec_fn=die_with_parent)
    code = stop_process(process)        # SIGTERM, then SIGKILL after the timeout
"""

from __future__ import annotations

import contextlib
import ctypes
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


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM this (child) process when the process that started it dies,
    even by SIGKILL: a broker or demo traffic never outlives `journeys up`."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
