"""The identity resolution agent: canonical touchpoints in, touchpoints by customer out.

    touchpoints.canonical (Touchpoint, keyed by anchor)   \\
    identity.messages (Claim | Merge | Repoint, by key)    -> Resolver (table `identities`)
        -> touchpoints.by-customer (Touchpoint, keyed by customer); bots straight out as
           enriched touchpoints
        -> identity.messages (claims and merges for other identifiers' partitions)
        -> journeys.moves (EngineMerge, keyed by the loser)
        -> identity.links / identity.merges / identity.violations (records for ClickHouse)

Both inputs are keyed by identifier and co-partitioned, so every record of the
`identities` table is read and written on its own partition, wherever the message came
from. The pure steps are in pipeline.journeys.resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from pydantic import BaseModel

from pipeline.journeys.identity import anchor_key
from pipeline.journeys.resolution import (
    LINK_MESSAGE,
    IdentifierRecord,
    IdentityLimits,
    Resolution,
    Resolver,
)
from schemas.outputs import EnrichedTouchpoint
from schemas.touchpoint import Touchpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityTopics:
    """The topics identity resolution reads and writes."""

    canonical: faust.TopicT
    messages: faust.TopicT
    by_customer: faust.TopicT
    moves: faust.TopicT
    touchpoints: faust.TopicT  # bots go straight to the enriched touchpoints
    links: faust.TopicT
    merges: faust.TopicT
    violations: faust.TopicT


class TableIdentities:
    """An IdentityStore over a Faust table of JSON-encoded IdentifierRecord values."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: str) -> IdentifierRecord | None:
        raw = self.table.get(key)
        return None if raw is None else IdentifierRecord.model_validate_json(raw)

    def put(self, record: IdentifierRecord) -> None:
        self.table[record.key] = record.model_dump_json().encode()


async def send_resolution(out: Resolution, topics: IdentityTopics) -> None:
    """Send what one resolution step decided, each record keyed as its consumer needs."""
    batches: list[tuple[faust.TopicT, list[tuple[str, BaseModel]]]] = [
        (topics.messages, [(m.key, m) for m in out.messages]),
        (topics.moves, [(m.loser.id, m) for m in out.engine_merges]),
        (topics.links, [(link.identifier, link) for link in out.links]),
        (topics.merges, [(merge.loser_id, merge) for merge in out.merges]),
        (topics.violations, [(v.identifier, v) for v in out.violations]),
    ]
    for topic, records in batches:
        for key, record in records:
            await topic.send(key=key.encode(), value=record.model_dump_json().encode())


def register_resolver(
    app: faust.App, topics: IdentityTopics, limits: IdentityLimits, *, partitions: int
) -> None:
    """Add the resolution agent and its `identities` table to `app`."""
    table = app.Table(
        "identities",
        partitions=partitions,
        key_type=str,
        value_type=bytes,  # IdentifierRecord as JSON (the app's serializers are raw)
    )
    resolver = Resolver(TableIdentities(table), limits)
    canonical = topics.canonical.get_topic_name()

    async def resolve(stream: Any) -> None:
        # Touchpoint (by anchor) | identity message (by key) -> Resolution -> topics
        async for event in stream.events():
            if event.message.topic != canonical:
                await send_resolution(
                    resolver.on_message(LINK_MESSAGE.validate_json(event.value)), topics
                )
                continue
            touchpoint = Touchpoint.model_validate_json(event.value)
            anchor = anchor_key(touchpoint.identities)
            if anchor is not None and event.key != anchor.encode():
                # Its producer keyed it otherwise: re-key it, so that the anchor's record
                # is read and written on the anchor's own partition.
                await topics.canonical.send(key=anchor.encode(), value=event.value)
                continue
            out = resolver.on_touchpoint(touchpoint)
            assert out.customer_id is not None
            customer = out.customer_id.encode()
            if touchpoint.is_bot:
                enriched = EnrichedTouchpoint(
                    **dict(touchpoint), customer_id=out.customer_id, session_id=None,
                    stage=None, sequence=0,
                )  # fmt: skip
                await topics.touchpoints.send(
                    key=customer, value=enriched.model_dump_json().encode()
                )
            else:
                await topics.by_customer.send(key=customer, value=event.value)
            await send_resolution(out, topics)

    combined = app.topic(
        canonical, topics.messages.get_topic_name(), key_type=bytes, value_type=bytes
    )
    app.agent(combined, name="identity.resolve")(resolve)
