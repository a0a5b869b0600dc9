"""A stop that always finishes: SIGINT or SIGTERM ends the worker within
`JOURNEYS_WORKER_STOP_TIMEOUT` seconds, whatever ClickHouse or the broker do.

On a stop signal the worker flushes what it can. Faust waits for every input taken to be
acknowledged, and an input is acknowledged only once its effects are durable; while
ClickHouse refuses writes that never happens, so the wait is bounded (half the timeout),
and what was not acknowledged is read again after a restart (at-least-once; the tables'
keys and versions collapse what is written twice). Anything else that hangs (a write
stuck in a thread, a dead broker) meets a watchdog at the full timeout, which ends the
process: its children (broker, demo traffic) die with it. A second signal ends it at once.

Usage:
    app = StopBoundedApp(...)                                       # pipeline.app
    StopBoundedWorker(app, stop_timeout=20).execute_from_commandline()
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

import faust

log = logging.getLogger(__name__)

#: Exit status of a stop the watchdog had to finish (or a second signal).
FORCED_EXIT = 3


class StopBoundedApp(faust.App):
    """A Faust app that waits a bounded time, on stop, for its inputs to be acknowledged."""

    #: Seconds a stop waits for the streams' inputs to be acknowledged (set from settings).
    stream_wait_limit: float = 10.0

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # Not `asyncio.wait_for`: Faust's wait swallows the cancellation and goes on. Left
        # running, it ends by itself once the consumer stops, a moment later.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({waiting}, timeout=self.stream_wait_limit)
        if not done:
            logger.warning(
                "gave up waiting %.0f s for inputs to become durable: those not "
                "acknowledged will be read again after a restart",
                self.stream_wait_limit,
            )


class StopBoundedWorker(faust.Worker):
    """A Faust worker whose stop ends within `stop_timeout` seconds of the signal."""

    def __init__(self, app: faust.App, *args: Any, stop_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, *args, **kwargs)
        self.stop_timeout = stop_timeout

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        if self._signal_stop_time:
            exit_now(f"a second {sig.name}: stopping at once")
        super()._schedule_shutdown(sig)
        watchdog = threading.Timer(
            self.stop_timeout,
            exit_now,
            [f"the stop took longer than {self.stop_timeout:g} s (JOURNEYS_WORKER_STOP_TIMEOUT)"],
        )
        watchdog.daemon = True
        watchdog.start()


def exit_now(why: str) -> None:
    """End the process without further shutdown work; what it had not acknowledged is
    read again by the next worker."""
    log.critical("%s; inputs not acknowledged will be read again after a restart", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(FORCED_EXIT)
