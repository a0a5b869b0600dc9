"""Child processes of the benchmark and their CPU and memory, sampled with psutil.

Usage:
    sampler = Sampler().start()
    sampler.watch("worker", pid)
    ...
    sampler.cpu_percent("worker", t0, t1)     # % of one core between two time.time()s
    sampler.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from pipeline.subprocesses import stop_process

REPO = Path(__file__).resolve().parents[2]


class Sampler:
    """Samples CPU seconds and RSS of named processes every `interval` seconds."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._processes: dict[str, psutil.Process] = {}
        # name -> [(time.time(), cpu seconds, rss bytes)]
        self._samples: dict[str, list[tuple[float, float, int]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._processes[name] = psutil.Process(pid)
            self._samples[name] = []
        self.sample()

    def forget(self, name: str) -> None:
        with self._lock:
            self._processes.pop(name, None)

    def sample(self) -> None:
        """Take one sample of every watched process now."""
        now = time.time()
        with self._lock:
            for name, process in list(self._processes.items()):
                try:
                    with process.oneshot():
                        times = process.cpu_times()
                        rss = process.memory_info().rss
                except psutil.Error:
                    self._processes.pop(name, None)
                    continue
                self._samples[name].append((now, times.user + times.system, rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def cpu_percent(self, name: str, begin: float, end: float) -> float:
        """CPU use of `name` between `begin` and `end`, in % of one core (200 = two cores)."""
        with self._lock:
            samples = list(self._samples.get(name, ()))
        if len(samples) < 2 or end <= begin:
            return 0.0
        used = _cpu_at(samples, end) - _cpu_at(samples, begin)
        return max(0.0, 100.0 * used / (end - begin))

    def rss(self, name: str) -> int:
        """The latest RSS of `name`, in bytes (0 if never sampled)."""
        with self._lock:
            samples = self._samples.get(name, [])
            return samples[-1][2] if samples else 0

    def rss_at(self, name: str, at: float) -> int:
        """RSS of `name` in the last sample taken at or before `at` (else the first)."""
        with self._lock:
            samples = list(self._samples.get(name, ()))
        before = [rss for sampled, _, rss in samples if sampled <= at]
        return before[-1] if before else (samples[0][2] if samples else 0)

    def peak_rss(self, name: str) -> int:
        with self._lock:
            return max((rss for _, _, rss in self._samples.get(name, [])), default=0)


def _cpu_at(samples: list[tuple[float, float, int]], at: float) -> float:
    """CPU seconds at time `at`, interpolated between the samples around it."""
    times = [sample[0] for sample in samples]
    index = bisect_left(times, at)
    if index == 0:
        return samples[0][1]
    if index >= len(samples):
        return samples[-1][1]
    (t0, c0, _), (t1, c1, _) = samples[index - 1], samples[index]
    return c0 + (c1 - c0) * (at - t0) / (t1 - t0) if t1 > t0 else c1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child if the benchmark dies (no orphaned workers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A Python child process (`python ARGS`) with its output in a log file."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit code."""
        if self.process is None:
            return None
        return stop_process(self.process, timeout)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


@contextlib.contextmanager
def busy_cores(count: int, log_dir: Path) -> Iterator[None]:
    """`count` processes that spin on a core each while the block runs (a loaded machine)."""
    hogs = [
        Child(["-c", "while True: pass"], {}, log_dir / f"busy-{index}.log").start()
        for index in range(count)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.stop(timeout=5)
