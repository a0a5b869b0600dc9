"""`journeys worker` that checks every offset commit against what the pipeline's flushes
made durable. Run as `python -m tests.commit_checking_worker`; it appends one JSON line
per commit of an input topic to the file named by JOURNEYS_TEST_COMMIT_LOG:
{"topic", "partition", "offset", "durable"}. A commit is safe when its offset (the next
one to read) is at most durable + 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from faust.transport.drivers import aiokafka as driver

from pipeline.cli import main
from pipeline.journeys import agent

LOG = Path(os.environ["JOURNEYS_TEST_COMMIT_LOG"])
RUNNERS: list[agent.PipelineRunner] = []

_init = agent.PipelineRunner.__init__
_commit = driver.Consumer._commit


def init(self: agent.PipelineRunner, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    RUNNERS.append(self)


async def commit(self: Any, offsets: Mapping[Any, int]) -> bool:
    durable = RUNNERS[0].stats.durable if RUNNERS else {}
    record(
        {"topic": tp.topic, "partition": tp.partition, "offset": offset,
         "durable": durable.get((tp.topic, tp.partition), -1)}
        for tp, offset in offsets.items()
        if ".touchpoints.raw." in tp.topic or tp.topic.endswith("journeys.internal")
    )  # fmt: skip
    return bool(await _commit(self, offsets))


def record(lines: Iterable[dict[str, Any]]) -> None:
    with LOG.open("a") as log:
        log.writelines(json.dumps(line) + "\n" for line in lines)


agent.PipelineRunner.__init__ = init  # type: ignore[method-assign]  # the observation
driver.Consumer._commit = commit  # type: ignore[method-assign]  # the observation
sys.argv = ["journeys", "worker"]
main()
