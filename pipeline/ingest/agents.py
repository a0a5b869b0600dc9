"""Normaliser agents: one per raw channel topic.

    touchpoints.raw.<channel> (raw bytes) -> Touchpoint  -> touchpoints.canonical (JSON,
                                                            keyed by anchor identifier)
                                          -> DeadLetter  -> touchpoints.dead-letter
                                                            (raw bytes + reason headers)

Agents stay thin: decode the Kafka event, call the pure normaliser, send the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import faust

from pipeline.ingest.normalize import Normalizer, RawRecord, normalize_safely
from pipeline.journeys.identity import anchor_key, unidentified_customer
from pipeline.topics import TopicNames
from schemas.touchpoint import Channel, Touchpoint


def raw_record(event: Any) -> RawRecord:
    """The Kafka record behind a Faust event."""
    message = event.message
    headers = message.headers
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    return RawRecord(
        message.topic, message.partition, message.offset, event.key, event.value, pairs
    )


def register_normalizers(
    app: faust.App,
    names: TopicNames,
    normalizer: Normalizer,
    *,
    canonical: faust.TopicT,
    dead_letters: faust.TopicT,
    partitions: int,
) -> None:
    """Add a normaliser agent for every channel's raw topic."""
    for channel in Channel:
        raw_topic = app.topic(
            names.raw(channel), key_type=bytes, value_type=bytes, partitions=partitions
        )

        async def normalize_channel(stream: Any, channel: Channel = channel) -> None:
            # raw bytes -> Touchpoint | DeadLetter -> canonical | dead-letter topic
            async for event in stream.events():
                record = raw_record(event)
                result = normalize_safely(normalizer, channel, record, datetime.now(UTC))
                if isinstance(result, Touchpoint):
                    # Keyed by the anchor identifier (pipeline.journeys.identity): identity
                    # resolution keeps its state by that key.
                    key = anchor_key(result.identities) or unidentified_customer(result.event_id)
                    await canonical.send(key=key.encode(), value=result.model_dump_json().encode())
                else:
                    await dead_letters.send(
                        key=record.key, value=record.value, headers=result.headers()
                    )

        normalize_channel.__name__ = normalize_channel.__qualname__ = f"normalize_{channel}"
        app.agent(raw_topic, name=f"normalize.{channel}")(normalize_channel)
