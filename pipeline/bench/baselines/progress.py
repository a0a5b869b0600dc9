"""What a baseline process reports: how many records it processed, and when.

Usage:
    progress = Progress(expected=50_000, result=Path("out.json"))
    progress.add(len(batch))        # writes the result file once `expected` is reached
    if progress.done: ...
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finish:
    """A baseline's result: records processed between two wall-clock times."""

    processed: int
    first_at: float  # time.time() when the first record was processed
    last_at: float  # ... and when the `expected`-th was

    @classmethod
    def read(cls, path: Path) -> Finish:
        return cls(**json.loads(path.read_text()))


class Progress:
    """Counts processed records; writes the `Finish` once `expected` are done."""

    def __init__(self, expected: int, result: Path) -> None:
        self.expected = expected
        self.result = result
        self.processed = 0
        self.first_at = 0.0
        self.done = False

    def add(self, count: int = 1) -> bool:
        """Count `count` more; True exactly once: when `expected` has just been reached."""
        if not self.processed:
            self.first_at = time.time()
        self.processed += count
        if not self.done and self.processed >= self.expected:
            self.done = True
            finish = Finish(self.processed, self.first_at, time.time())
            partial = self.result.with_suffix(".partial")
            partial.write_text(json.dumps(asdict(finish)))
            partial.rename(self.result)  # the harness never reads half a file
            return True
        return False


def arguments(description: str) -> argparse.Namespace:
    """The command line every baseline takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topics", required=True, help="comma-separated raw topics")
    parser.add_argument("--group", required=True, help="consumer group (unique per run)")
    parser.add_argument("--expected", type=int, required=True, help="records to process")
    parser.add_argument("--result", type=Path, required=True, help="where to write the Finish")
    parser.add_argument("--partitions", type=int, default=8, help="of topics it creates")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch space")
    return parser.parse_args()
