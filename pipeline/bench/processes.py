"""Child processes of the benchmark and their CPU and memory, sampled with psutil.

Usage:
    sampler = Sampler().start()
    sampler.watch("worker", pid)
    ...
    sampler.cpu_percent("worker", t0, t1)     # % of one core between two time.time()s
    sampler.native_share("worker", t0, t1)    # of that, the share of its native threads
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
from typing import NamedTuple

import psutil

from pipeline.subprocesses import stop_process

REPO = Path(__file__).resolve().parents[2]


class Sample(NamedTuple):
    """One process at one moment."""

    at: float  # time.time()
    cpu: float  # CPU seconds so far
    rss: int  # bytes
    native: float  # CPU seconds so far of its native threads


class Sampler:
    """Samples CPU seconds and RSS of named processes every `interval` seconds, and the
    CPU seconds of their native threads: those not named like the process (Python 3.11's
    threads keep the process's name; an embedded engine names its own, such as chdb's
    ThreadPool, BgSchPool and MergeMutate, or RocksDB's)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._processes: dict[str, psutil.Process] = {}
        self._samples: dict[str, list[Sample]] = {}
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
                    native = _native_cpu(process)
                except psutil.Error:
                    self._processes.pop(name, None)
                    continue
                self._samples[name].append(Sample(now, times.user + times.system, rss, native))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def cpu_percent(self, name: str, begin: float, end: float) -> float:
        """CPU use of `name` between `begin` and `end`, in % of one core (200 = two cores)."""
        used = self._used(name, begin, end)
        return max(0.0, 100.0 * used / (end - begin)) if used is not None else 0.0

    def native_share(self, name: str, begin: float, end: float) -> float:
        """Of `name`'s CPU between `begin` and `end`, the share (0..1) of its native threads."""
        used = self._used(name, begin, end)
        if used is None or used <= 0:
            return 0.0
        native = self._used(name, begin, end, native=True) or 0.0
        return min(1.0, max(0.0, native / used))

    def _used(self, name: str, begin: float, end: float, *, native: bool = False) -> float | None:
        """CPU seconds `name` (or its native threads) used between `begin` and `end`; None
        without two samples or a window."""
        with self._lock:
            samples = list(self._samples.get(name, ()))
        if len(samples) < 2 or end <= begin:
            return None
        return _cpu_at(samples, end, native=native) - _cpu_at(samples, begin, native=native)

    def rss(self, name: str) -> int:
        """The latest RSS of `name`, in bytes (0 if never sampled)."""
        with self._lock:
            samples = self._samples.get(name, [])
            return samples[-1].rss if samples else 0

    def rss_at(self, name: str, at: float) -> int:
        """RSS of `name` in the last sample taken at or before `at` (else the first)."""
        with self._lock:
            samples = list(self._samples.get(name, ()))
        before = [sample.rss for sample in samples if sample.at <= at]
        return before[-1] if before else (samples[0].rss if samples else 0)

    def peak_rss(self, name: str) -> int:
        with self._lock:
            return max((sample.rss for sample in self._samples.get(name, [])), default=0)


def _native_cpu(process: psutil.Process) -> float:
    """CPU seconds of `process`'s threads not named like the process itself."""
    task = Path(f"/proc/{process.pid}/task")
    try:
        own_name = (task.parent / "comm").read_text()
    except OSError:
        return 0.0  # not Linux, or gone: no thread names to tell them apart
    native = 0.0
    for thread in process.threads():
        with contextlib.suppress(OSError):  # a thread that ended since
            if (task / str(thread.id) / "comm").read_text() != own_name:
                native += thread.user_time + thread.system_time
    return native


def _cpu_at(samples: list[Sample], at: float, *, native: bool = False) -> float:
    """CPU seconds (the process's, or its native threads') at time `at`, interpolated
    between the samples around it."""
    times = [sample.at for sample in samples]
    index = bisect_left(times, at)
    if index == 0:
        return samples[0].native if native else samples[0].cpu
    if index >= len(samples):
        return samples[-1].native if native else samples[-1].cpu
    before, after = samples[index - 1], samples[index]
    c0, c1 = (before.native, after.native) if native else (before.cpu, after.cpu)
    t0, t1 = before.at, after.at
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
