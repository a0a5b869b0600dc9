"""Faust's consumer read loop, with a faster path (proposed upstream, docs/performance.md)
and a barrier for partitions sought back at recovery's end.

Faust's `Consumer._drain_messages` hands every fetched record to the conductor through
`Service.wait_first(callback(message), suspend_flow.wait())`: four futures, an
`asyncio.wait` and three cancellations per record, about half of a record's read cost
on this machine. With `fast`, this version awaits the callback directly while the flow
runs, and keeps `wait_first` for the slow case only, a suspended flow (a rebalance), so
that a callback blocked then is still abandoned as before; without, it is Faust's.

The barrier: when pipeline.faust_recovery seeks a partition back to offset X, a batch
this loop fetched before the seek may still be going through, with records after X.
Faust's loop would take them, note the offsets between X and them as a gap (done, for
its commits) and move the partition's read offset past X (also over the seek's own
setting, when the seek ran while a record's callback was pending), so that the records
read again from X are skipped as already read: lost, and the commit stuck at X. Here,
until offset X comes again, records of such a partition are left alone, and when it
comes, the read offset is set to X whatever a batch left there (`reseek_from`).
Everything else is Faust 0.15.3's loop as it stands (faust/transport/consumer.py).

    install_drain(fast=True)     # before the worker starts; JOURNEYS_WORKER_FAST_DRAIN
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.transport import consumer as faust_consumer
from mode import Service, ServiceT

#: Per Faust consumer: partition -> the offset it was sought back to, until that record
#: comes again (set by pipeline.faust_recovery).
RESEEK_ATTRIBUTE = "_journeys_reseek_from"


def reseek_from(consumer: Any) -> dict[Any, int]:
    """The partitions of `consumer` sought back and not yet read again from there."""
    barrier: dict[Any, int] | None = getattr(consumer, RESEEK_ATTRIBUTE, None)
    if barrier is None:
        barrier = {}
        setattr(consumer, RESEEK_ATTRIBUTE, barrier)
    return barrier


async def _drain_messages(  # noqa: PLR0912, PLR0915  # Faust's loop, kept as it is upstream
    self: Any, fetcher: ServiceT, fast: bool = True
) -> None:
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    suspended = self.suspend_flow.is_set
    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep
    barrier = reseek_from(self)
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    if barrier and tp in barrier:
                        if offset != barrier[tp]:
                            continue  # fetched before the seek back: comes again
                        del barrier[tp]
                        set_read_offset(tp, offset)  # over what a batch left there
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if not fast or suspended():  # Faust's way (and in a rebalance,
                            # a callback that blocks is abandoned)
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        else:  # the change: no futures per record while the flow runs
                            await callback(message)
                        set_read_offset(tp, offset)
                unset_flag(flag_consumer_fetching)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


def install_drain(fast: bool) -> None:
    """Use `_drain_messages` above for every Faust consumer of this process; `fast`: the
    callback awaited directly while the flow runs."""

    async def drain(self: Any, fetcher: ServiceT) -> None:
        await _drain_messages(self, fetcher, fast)

    faust_consumer.Consumer._drain_messages = drain  # type: ignore[method-assign]  # the patch itself
