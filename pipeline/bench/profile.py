"""Where a worker's time goes: py-spy samples of the running process, summarised.

    with Profiler(pid, Path("worker.pyspy")) as profiler: ...   # samples while inside
    summary = summarise(Path("worker.pyspy"))                    # Profile

py-spy (a `bench` extra) samples the worker's Python stacks without changing it; only
threads that are running are counted, so the shares are of CPU time spent in Python
(ClickHouse's own native threads, inside the same process, are not seen).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pipeline.subprocesses import stop_process

#: (library, how the file paths of its frames begin), as py-spy prints them (relative to
#: site-packages or the standard library). A sample belongs to the first library met
#: walking from its innermost frame outwards, so a socket write that aiokafka asked for is
#: aiokafka's, and one only the event loop is in is the loop's.
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pydantic (validate / serialise)", ("pydantic/", "pydantic_core/")),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
    ("faust / mode (streams, tables, acks)", ("faust/", "mode/")),
    ("aiokafka (fetch, produce)", ("aiokafka/",)),
    ("kafka-python", ("kafka/",)),
    ("clickhouse-connect / chdb (sink inserts)", ("clickhouse_connect/", "chdb/")),
    ("normaliser libraries (crawlerdetect, phonenumbers)", ("crawlerdetect/", "phonenumbers/")),
    ("own code (pipeline/, schemas/)", ("pipeline/", "schemas/")),
)
LOOP = "asyncio event loop, threads, other"

#: py-spy's full file names are cut to the forms above: from the package on for installed
#: packages, else relative to the repository (own code) or the standard library. (py-spy's
#: own shortening stops at the first folder without an __init__.py.)
INSTALLED = ("/site-packages/", "/dist-packages/")
ROOTS = (str(Path(__file__).resolve().parents[2]) + "/", sysconfig.get_paths()["stdlib"] + "/")

#: Own frames that only start the worker: everything runs under them.
ENTRY = ("pipeline/__main__.py", "pipeline/cli.py", "pipeline/worker.py")


@dataclass(frozen=True)
class Share:
    name: str
    samples: int
    percent: float


@dataclass(frozen=True)
class Profile:
    """A summary of py-spy samples."""

    samples: int
    by_library: list[Share]  # the library of the innermost frame
    by_own_function: list[Share]  # the innermost frame in pipeline/ or schemas/ code
    by_leaf: list[Share]  # the innermost frame itself


def available() -> bool:
    """Whether py-spy is installed (the `bench` extra)."""
    return _py_spy() is not None


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """py-spy recording one process (raw collapsed stacks) while the block runs."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        py_spy = _py_spy()
        if py_spy is not None:
            log = self.out.with_name(self.out.name + ".log").open("wb")
            self._process = subprocess.Popen(
                [py_spy, "record", "--pid", str(self.pid), "--format", "raw", "--full-filenames",
                 "--rate", str(self.rate), "--nonblocking", "--output", str(self.out)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            log.close()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        stop_process(self._process, 30, signal.SIGINT)  # py-spy writes its file on SIGINT


def summarise(path: Path, top: int = 12) -> Profile | None:
    """The shares of a raw py-spy file, or None when it holds no samples."""
    if not path.exists():
        return None
    libraries: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        leaves[_short(frames[-1])] += samples
        libraries[_library(frames)] += samples
        mine = next((f for f in reversed(frames) if _is_own(f)), None)
        own[_short(mine) if mine else "(no own frame: framework, clients, event loop)"] += samples
    if not total:
        return None

    def shares(counter: Counter[str]) -> list[Share]:
        return [Share(name, n, 100 * n / total) for name, n in counter.most_common(top)]

    return Profile(total, shares(libraries), shares(own), shares(leaves))


def _path(frame: str) -> str:
    """`function (/full/path/to/file.py:12)` -> `path/to/file.py`, from the package on."""
    path = frame.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    for marker in INSTALLED:
        if marker in path:
            return path.split(marker, 1)[1]
    for root in ROOTS:
        if path.startswith(root):
            return path.removeprefix(root)
    return path


def _library(frames: list[str]) -> str:
    for frame in reversed(frames):
        path = _path(frame)
        if path.startswith(ENTRY):
            break
        for name, starts in LIBRARIES:
            if path.startswith(starts):
                return name
    return LOOP


def _is_own(frame: str) -> bool:
    path = _path(frame)
    return path.startswith(("pipeline/", "schemas/")) and not path.startswith(ENTRY)


def _short(frame: str) -> str:
    """`function (path/to/file.py:12)` -> `function (file.py)`."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({Path(file).name})" if file else name
