"""The garbage collector's pace for long-running processes (the worker, the bench's peers).

tune_garbage_collector(settings.worker.gc_threshold)   # once, after start-up
"""

from __future__ import annotations

import gc


def tune_garbage_collector(threshold: int) -> None:
    """Collect less often: the worker allocates a few objects per event and frees them
    at once (reference counting does), while each pass of the collector walks every
    young container; what start-up made (modules, the app, the clients) is frozen out of
    every pass. With `threshold` 0, Python's defaults stay."""
    if threshold:
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)
