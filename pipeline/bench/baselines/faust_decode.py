"""Baseline: a bare Faust app, one agent over every raw topic, that only decodes JSON.

Same Faust settings as the pipeline's app (raw serializers, earliest offsets, memory
store) and the same `stream.events()` loop as its agents: the framework's ceiling.

Usage:
    python -m pipeline.bench.baselines.faust_decode --bootstrap HOST:PORT \
        --topics a,b --group g --expected 50000 --result out.json --workdir /tmp/x
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from typing import Any

import faust

from pipeline.bench.baselines.progress import Progress, arguments


def build(bootstrap: str, topics: list[str], group: str, progress: Progress, datadir: str) -> Any:
    app = faust.App(
        group,
        broker=[f"kafka://{server}" for server in bootstrap.split(",")],
        store="memory://",
        datadir=datadir,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_disable_leader=True,
    )
    source = app.topic(*topics, key_type=bytes, value_type=bytes)

    async def decode(stream: Any) -> None:
        # raw bytes -> dict, dropped
        async for event in stream.events():
            # a deliberately broken record is decoded as far as it goes
            with contextlib.suppress(ValueError):
                json.loads(event.value)
            if progress.add():
                os.kill(os.getpid(), signal.SIGTERM)  # the worker shuts down cleanly

    app.agent(source, name="bench.decode")(decode)
    return app


def main() -> None:
    args = arguments(__doc__ or "")
    args.workdir.mkdir(parents=True, exist_ok=True)
    progress = Progress(args.expected, args.result)
    app = build(args.bootstrap, args.topics.split(","), args.group, progress, str(args.workdir))
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise


if __name__ == "__main__":
    main()
