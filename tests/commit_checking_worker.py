"""`journeys worker` that checks every offset commit, revocation and recovery against what
the pipeline's flushes made durable. Run as `python -m tests.commit_checking_worker`; it
appends one JSON line to the file named by JOURNEYS_TEST_COMMIT_LOG, each with the
worker's process id ("pid")

- per commit of an input topic: {"topic", "partition", "offset", "durable"}; a commit is
  safe when its offset (the next one to read) is at most durable + 1;
- when the pipeline's revocation handler has returned (Faust then gives the partitions
  up) and when a recovery starts: {"event": "revoked" | "recovery", "unflushed": n},
  where n counts what the pipeline processed and has not made durable yet (inputs not
  acknowledged, rows, dead letters, envelopes, changed state); it must be 0.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as driver

from pipeline.cli import main
from pipeline.journeys import agent

LOG = Path(os.environ["JOURNEYS_TEST_COMMIT_LOG"])
RUNNERS: list[agent.PipelineRunner] = []

_init = agent.PipelineRunner.__init__
_commit = driver.Consumer._commit
_revoked = agent.PipelineRunner._revoked
_on_rebalance = Recovery.on_rebalance


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


def unflushed(runner: agent.PipelineRunner) -> int:
    """What `runner` processed and has not made durable yet."""
    made = len(runner.unacked)
    for pipe in runner.pipelines.values():
        pending, state = pipe.pending, pipe.state
        made += pending.row_count() + len(pending.dead_letters) + len(pending.reports)
        made += sum(len(items) for items in pipe.outbox.values())
        made += len(state.customers.records.dirty) + len(state.identities.records.dirty)
        made += len(state.counts.changed)
    return made


async def revoked(self: agent.PipelineRunner, *args: Any, **kwargs: Any) -> None:
    await _revoked(self, *args, **kwargs)
    record([{"event": "revoked", "unflushed": unflushed(self)}])


async def on_rebalance(self: Recovery, *args: Any, **kwargs: Any) -> None:
    record([{"event": "recovery", "unflushed": sum(unflushed(r) for r in RUNNERS)}])
    await _on_rebalance(self, *args, **kwargs)


def record(lines: Iterable[dict[str, Any]]) -> None:
    pid = os.getpid()
    with LOG.open("a") as log:
        log.writelines(json.dumps({**line, "pid": pid}) + "\n" for line in lines)


agent.PipelineRunner.__init__ = init  # type: ignore[method-assign]  # the observation
driver.Consumer._commit = commit  # type: ignore[method-assign]  # the observation
agent.PipelineRunner._revoked = revoked  # type: ignore[method-assign]  # the observation
Recovery.on_rebalance = on_rebalance  # type: ignore[method-assign]  # the observation
sys.argv = ["journeys", "worker"]
main()
