"""`journeys worker` that dies the moment it would absorb a merged customer's journey.

Run as `python -m tests.crash_mid_merge_worker`. The merge message has been handled on
the loser's side (its marker written, its state sent to the winner); the process then
exits at once (`os._exit`: no shutdown, no flush, no commit), as a crash between the
merge message and its absorption would.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pipeline.cli import main
from pipeline.journeys.partition import JourneyPartition


def crash(*_args: Any, **_kwargs: Any) -> Any:
    sys.stderr.write("injected crash: about to absorb a merged journey\n")
    sys.stderr.flush()
    os._exit(137)


JourneyPartition.on_absorb = crash  # type: ignore[method-assign]  # the injected fault
sys.argv = ["journeys", "worker"]
main()
