"""A faster read path for Faust's consumer, proposed upstream (docs/performance.md).

Faust's `Consumer._drain_messages` hands every fetched record to the conductor through
`Service.wait_first(callback(message), suspend_flow.wait())`: four futures, an
`asyncio.wait` and three cancellations per record, about half of a record's read cost
on this machine. This version awaits the callback directly while the flow runs, and
keeps `wait_first` for the slow case only, a suspended flow (a rebalance), so that a
callback blocked then is still abandoned as before. Everything else is Faust 0.15.3's
loop as it stands (faust/transport/consumer.py).

    install_fast_drain()     # before the worker starts; JOURNEYS_WORKER_FAST_DRAIN
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.transport import consumer as faust_consumer
from mode import Service, ServiceT


async def _drain_messages(  # noqa: PLR0912, PLR0915  # Faust's loop, kept as it is upstream
    self: Any, fetcher: ServiceT
) -> None:  # pragma: no cover
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
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if suspended():  # a rebalance: abandon the callback if it blocks
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


def install_fast_drain() -> None:
    """Use `_drain_messages` above for every Faust consumer of this process."""
    faust_consumer.Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]  # the patch itself
