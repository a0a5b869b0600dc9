"""Recovery's end, made safe for records fetched while it finishes.

Faust 0.15.3's `Recovery.on_recovery_completed` resumes the stream partitions, seeks
them to their committed offsets, and then calls `app.flow_control.resume()`, which
empties every stream queue (its way of dropping what was fetched before the seek). A
record fetched after the seek and still queued at that moment is dropped while the
consumer's position is already past it: nothing reads it again, and once the records
after it are acknowledged, the committed offset passes it too. A restarted worker sent
records while it finished recovery lost some of them that way (the worker-restart
end-to-end test, about one run in three).

Here the queues are emptied as before, but what they held is noted first: after Faust's
method, each partition that lost records is sought back to the first of them, so they
are read again. A queue holds a partition's records in order, so everything from that
offset on was dropped too; a record is read twice only when the stream had taken some
that were fetched before Faust's seek (the engine drops event ids it has seen).

The seek itself (`Consumer.perform_seek`): Faust's seeks the partitions one by one, with
an await for each one's committed offset, while the flow may run (a recovery that read
changelogs resumed it), and sets every read offset back to the committed one when all
are done, over the records read meanwhile from the partitions sought first: the records
after them were then taken for a gap (done, for its commits). Here the committed offsets
are asked first, and every partition is sought and its read offset set in one step of
the consumer's thread.

    install_reseek_after_recovery()     # before the worker starts
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP

_faust_on_recovery_completed = Recovery.on_recovery_completed


def first_offsets(items: Iterable[object]) -> dict[Any, int]:
    """The lowest offset per topic partition among queued stream events (other items,
    which carry no Kafka record, are ignored)."""
    first: dict[Any, int] = {}
    for item in items:
        message = getattr(item, "message", None)
        tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
        if tp is not None and isinstance(offset, int):
            first[tp] = min(offset, first.get(tp, offset))
    return first


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery.on_recovery_completed`; records its queue clear drops are read again."""
    app = self.app
    flow_control = app.flow_control
    dropped: dict[Any, int] = {}

    def clear_noting_what_is_dropped() -> None:
        for queue in list(flow_control._queues):
            for tp, offset in first_offsets(queue._queue).items():
                dropped[tp] = min(offset, dropped.get(tp, offset))
            queue.clear()

    flow_control.clear = clear_noting_what_is_dropped  # resume() calls self.clear()
    try:
        await _faust_on_recovery_completed(self, generation_id)
    finally:
        del flow_control.clear  # Faust's own again
    consumer = app.consumer
    if app.consumer_generation_id != generation_id:
        return  # rebalancing again: the next recovery seeks
    assigned = consumer.assignment()
    again = {tp: offset for tp, offset in sorted(dropped.items()) if tp in assigned}
    for tp, offset in again.items():
        self.log.info("Reading %s again from offset %d (dropped at recovery's end)", tp, offset)
    if again:
        # Records of a batch fetched before this seek are left alone (pipeline.faust_drain
        # counts seeks). In the consumer's own thread (`seek_wait`), as Faust's recovery
        # seeks: aiokafka's `seek` called from this thread deletes the fetcher's buffer of
        # a partition while that thread drains it. A worker crashed so (KeyError for a
        # state-changelog partition this seek had just sought) when a second one joined.
        await consumer.seek_wait(again)


async def perform_seek(self: Any) -> None:
    """Faust's `Consumer.perform_seek`: every assigned partition to its committed offset,
    sought and its read offset set at once (see above)."""
    thread = self._thread
    committed: dict[Any, int | None] = await thread.call_thread(_seek_to_committed, thread)
    self._committed_offset.update(
        {TP(tp.topic, tp.partition): offset or None for tp, offset in committed.items()
         if offset is not None}
    )  # fmt: skip


async def _seek_to_committed(thread: Any) -> dict[Any, int | None]:
    """In the consumer's thread: committed offsets, then the seeks."""
    consumer = thread._ensure_consumer()
    committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    read_offset = thread.consumer._read_offset
    for tp, offset in committed.items():  # no await from here on: nothing is fetched
        if offset and offset > 0:  # (as aiokafka's seek_to_committed)
            consumer.seek(tp, offset)
        read_offset[tp] = offset if offset is not None and offset >= 0 else None
    return committed


def install_reseek_after_recovery() -> None:
    """Use `on_recovery_completed` and `perform_seek` above for every Faust app of this
    process."""
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]  # the patch itself
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]  # the patch itself
