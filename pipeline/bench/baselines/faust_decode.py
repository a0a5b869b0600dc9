"""Baseline: a bare Faust app, one agent over every raw topic, that only decodes JSON.

It reads the way the pipeline's worker reads, so that it is the framework's floor under
the pipeline: the same Faust settings for the read path (raw serializers, earliest
offsets, memory store, `broker_max_poll_records`), the same loop (`noack_take` batches,
acked once a batch is done), the drain fix (`pipeline/faust_drain.py`), the collector's
pace and no start-up spinner.

Usage:
    python -m pipeline.bench.baselines.faust_decode --bootstrap HOST:PORT \
        --topics a,b --group g --expected 50000 --result out.json --workdir /tmp/x
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from argparse import Namespace
from typing import Any

import faust

from pipeline.bench.baselines.progress import Progress, arguments
from pipeline.faust_drain import install_drain
from pipeline.gc_tuning import tune_garbage_collector
from pipeline.journeys.agent import TAKE_WITHIN
from pipeline.settings import Settings, load_settings


def build(settings: Settings, args: Namespace, progress: Progress) -> Any:
    app = faust.App(
        args.group,
        broker=[f"kafka://{server}" for server in args.bootstrap.split(",")],
        store="memory://",
        datadir=str(args.workdir),
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.sink.take_max,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_disable_leader=True,
    )
    source = app.topic(*args.topics.split(","), key_type=bytes, value_type=bytes)

    async def decode(stream: Any) -> None:
        # raw bytes -> dict, dropped; a batch acked once decoded, as the worker acks a flush
        async for events in stream.noack_take(settings.sink.take_max, within=TAKE_WITHIN):
            for event in events:
                # a deliberately broken record is decoded as far as it goes
                with contextlib.suppress(ValueError):
                    json.loads(event.value)
                if progress.add():
                    os.kill(os.getpid(), signal.SIGTERM)  # the worker shuts down cleanly
            for event in events:
                await stream.ack(event)

    app.agent(source, name="bench.decode")(decode)
    return app


def main() -> None:
    args = arguments(__doc__ or "")
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    progress = Progress(args.expected, args.result)
    app = build(settings, args, progress)
    install_drain(fast=settings.worker.fast_drain)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    tune_garbage_collector(settings.worker.gc_threshold)
    worker.spinner = None  # as the pipeline's worker (pipeline/worker.py)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise


if __name__ == "__main__":
    main()
