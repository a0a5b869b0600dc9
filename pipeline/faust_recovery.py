"""Recovery's end, made safe for records fetched while it finishes.

Faust 0.15.3's `Recovery.on_recovery_completed` resumes the stream partitions, seeks
them to their committed offsets, and then calls `app.flow_control.resume()`, which
empties every stream queue (its way of dropping what was fetched before the seek). A
record fetched after the seek and still queued at that moment is dropped while the
consumer's position is already past it: nothing reads it again, and once the records
after it are acknowledged, the committed offset passes it too. A restarted worker sent
records while it finished recovery lost some of them that way (the worker-restart
end-to-end test, about one run in three).

After Faust's method, the stream partitions are sought once more, now that nothing
empties the queues: to their committed offsets, or to the earliest ones where the group
has committed nothing yet (the consumer starts there: `auto_offset_reset` "earliest").
Whatever was dropped is read again. Records the streams already took are read twice,
which the pipeline absorbs: the engine drops event ids it has seen.

    install_reseek_after_recovery()     # before the worker starts
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from faust.tables.recovery import Recovery

TP = TypeVar("TP")

_faust_on_recovery_completed = Recovery.on_recovery_completed


def reseek_targets(committed: Mapping[TP, int | None], earliest: Mapping[TP, int]) -> dict[TP, int]:
    """Where each stream partition is read from again: its committed offset, else (nothing
    committed yet) its earliest."""
    return {tp: offset if offset else earliest.get(tp, 0) for tp, offset in committed.items()}


async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """Faust's `Recovery.on_recovery_completed`, then the stream partitions sought again."""
    await _faust_on_recovery_completed(self, generation_id)
    app = self.app
    consumer = app.consumer
    streams = {tp for tp in consumer.assignment() if not self._is_changelog_tp(tp)}
    if app.consumer_generation_id != generation_id or not streams:
        return  # rebalancing again: the next recovery seeks
    committed = await consumer.seek_to_committed()
    unset = [tp for tp in streams if not committed.get(tp)]
    earliest = await consumer.earliest_offsets(*unset) if unset else {}
    targets = reseek_targets({tp: committed.get(tp) for tp in streams}, earliest)
    for tp, offset in targets.items():
        await consumer.seek(tp, offset)  # also where Faust's reader accepts records from
    self.log.info("Stream partitions sought again after recovery (records fetched meanwhile).")


def install_reseek_after_recovery() -> None:
    """Use `on_recovery_completed` above for every Faust app of this process."""
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]  # the patch itself
