"""Faust's consumer read loop, with a faster path (proposed upstream, docs/performance.md)
and no record passed over that a seek will not bring back.

Faust's `Consumer._drain_messages` hands every fetched record to the conductor through
`Service.wait_first(callback(message), suspend_flow.wait())`: four futures, an
`asyncio.wait` and three cancellations per record, about half of a record's read cost
on this machine. With `fast`, this version awaits the callback directly while the flow
runs, and keeps `wait_first` for the slow case only, a suspended flow (a rebalance), so
that a callback blocked then is still abandoned as before; without, it is Faust's.

Read offsets. Faust skips a record below its partition's read offset (read already) and
takes the offsets between the read offset and a record above it for done (a gap, for its
commits). So a partition's read offset must never pass a record that nobody processed
and that will be fetched again; Faust's loop lets that happen in three ways (with the
seek at recovery's end, pipeline.faust_recovery, four), which lost records when a second
worker joined under load (docs/reliability.md):

- a batch fetched before a seek of its partition (recovery's end, pipeline.faust_recovery)
  still going through the loop after it: its records moved the read offset past the
  sought one, and the records read again from there were skipped;
- a seek while a record's callback was pending: the loop then set the read offset to
  that record over the seek's own setting;
- a callback abandoned while the flow is suspended: the record was not handed over, yet
  the read offset moved to it (and a later record of the same batch would have taken it
  for a gap).

Here every seek of a partition is counted (in aiokafka's subscription state, in the
consumer's thread; a new assignment counts as a seek of every partition it moves) and
every fetch notes the count it was made at. A record of a partition sought since its
batch was fetched is left alone (the seek brings it back); a record whose partition was
sought while its callback ran does not set the read offset (the seek's stands); an
abandoned record sets nothing and ends its batch (the rebalance that suspended the flow
reads its partitions again from their committed offsets). Everything else is Faust
0.15.3's loop as it stands (faust/transport/consumer.py).

    install_drain(fast=True)     # before the worker starts; JOURNEYS_WORKER_FAST_DRAIN
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.consumer.subscription_state import SubscriptionState
from faust.transport import consumer as faust_consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode import Service, ServiceT

#: Attributes: the seek counts of an aiokafka consumer (on its subscription state), and
#: on a Faust consumer the fetch its read loop works through.
SEEKS_ATTRIBUTE = "_journeys_seeks"
FETCH_ATTRIBUTE = "_journeys_fetch"


@dataclass
class Seeks:
    """The seeks of one Kafka consumer: how many so far, and per partition the number of
    its latest one."""

    count: int = 0
    latest: dict[Any, int] = field(default_factory=dict)

    def note(self, partitions: Iterable[Any]) -> None:
        for tp in partitions:
            self.count += 1
            self.latest[tp] = self.count

    def since(self, tp: Any, count: int) -> bool:
        """Whether `tp` was sought after the seek numbered `count` (callers check
        `self.count != count` first: on the hot path, one comparison per record)."""
        return self.latest.get(tp, 0) > count


@dataclass(frozen=True)
class Fetch:
    """A batch of records as fetched: the consumer's seeks, and their count at the time."""

    seeks: Seeks
    count: int


UNCOUNTED = Fetch(Seeks(), 0)  # a consumer whose seeks are not counted (not installed)


def seeks_of(subscription: Any) -> Seeks:
    """The seek counts of an aiokafka consumer's `subscription` state (made on first use)."""
    seeks: Seeks | None = getattr(subscription, SEEKS_ATTRIBUTE, None)
    if seeks is None:
        seeks = Seeks()
        setattr(subscription, SEEKS_ATTRIBUTE, seeks)
    return seeks


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
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
            await self.sleep(0)
            if not self.should_stop:
                seeks: Seeks | None = None
                async for tp, message in ait:
                    if seeks is None:  # the first record: getmany has fetched the batch
                        fetch: Fetch = getattr(self, FETCH_ATTRIBUTE, UNCOUNTED)
                        seeks, fetched_at = fetch.seeks, fetch.count
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    if seeks.count != fetched_at and seeks.since(tp, fetched_at):
                        continue  # fetched before its partition's seek, which brings it back
                    offset = message.offset
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
                            handed = callback(message)
                            waited = await self.wait_first(handed, self.suspend_flow.wait())
                            if handed not in waited.done:
                                # Abandoned: not read, and the batch ends here (as
                                # getmany ends it once the flow stops): a later record
                                # would take this one for a gap. The rebalance reads
                                # its partition again from the committed offset.
                                break
                        else:  # the change: no futures per record while the flow runs
                            await callback(message)
                        if seeks.count != fetched_at and seeks.since(tp, fetched_at):
                            continue  # sought meanwhile: the seek's read offset stands
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


_aiokafka_seek = SubscriptionState.seek
_aiokafka_assign = SubscriptionState.assign_from_subscribed
_aiokafka_request_offset_reset = Fetcher.request_offset_reset
_faust_fetch_records = AIOKafkaConsumerThread._fetch_records


def _seek(self: SubscriptionState, tp: Any, offset: int) -> None:
    seeks_of(self).note([tp])
    _aiokafka_seek(self, tp, offset)


def _assign(self: SubscriptionState, assignment: set[Any]) -> None:
    # A new assignment starts every partition at its committed offset: what was fetched
    # before it is read again (or is another worker's now).
    seeks_of(self).note([*self.assigned_partitions(), *assignment])
    _aiokafka_assign(self, assignment)


def _request_offset_reset(self: Fetcher, tps: Any, strategy: Any) -> Any:
    seeks_of(self._subscriptions).note(list(tps))
    return _aiokafka_request_offset_reset(self, tps, strategy)


async def _fetch_records(self: Any, consumer: Any, *args: Any, **kwargs: Any) -> Mapping[Any, Any]:
    records: Mapping[Any, Any] = await _faust_fetch_records(self, consumer, *args, **kwargs)
    # Still in the consumer's thread, before any other of its tasks runs: no seek can
    # fall between the fetch and this count.
    seeks = seeks_of(consumer._subscription)
    setattr(self.consumer, FETCH_ATTRIBUTE, Fetch(seeks, seeks.count))
    return records


def install_drain(fast: bool) -> None:
    """Use `_drain_messages` above for every Faust consumer of this process, with its
    seeks counted; `fast`: the callback awaited directly while the flow runs."""

    async def drain(self: Any, fetcher: ServiceT) -> None:
        await _drain_messages(self, fetcher, fast)

    faust_consumer.Consumer._drain_messages = drain  # type: ignore[method-assign]  # the patch itself
    SubscriptionState.seek = _seek  # counts seeks (aiokafka is untyped)
    SubscriptionState.assign_from_subscribed = _assign  # counts assignments as seeks
    Fetcher.request_offset_reset = _request_offset_reset  # counts seeks
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]  # notes the count
