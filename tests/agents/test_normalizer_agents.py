"""Normaliser agents under Faust's test_context: every record gets exactly one answer,
on the canonical channel or the dead-letter channel, and the agent keeps running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import faust
import pytest
from pipeline.ingest.agents import register_normalizers

from pipeline.ingest.deadletters import parse_dead_letter
from pipeline.ingest.normalize import Normalizer
from pipeline.ingest.pii import PiiHasher
from pipeline.topics import TopicNames
from schemas.touchpoint import Channel, Touchpoint
from tests.bad_inputs import BAD_INPUTS

pytestmark = pytest.mark.agent

PAGE = {
    "messageId": "m-1",
    "type": "page",
    "anonymousId": "c-1",
    "timestamp": "2026-03-01T10:00:00Z",
}


@dataclass
class Harness:
    app: faust.App
    canonical: Any  # subscriber of the canonical channel
    dead: Any  # subscriber of the dead-letter channel

    async def answer(self) -> tuple[str, Any]:
        """The one output of the last record: ("touchpoint", event) or ("dead", event)."""
        waiting = {
            asyncio.ensure_future(self.canonical.get()): "touchpoint",
            asyncio.ensure_future(self.dead.get()): "dead",
        }
        done, pending = await asyncio.wait(waiting, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert len(done) == 1, "expected exactly one answer within 5 s"
        task = done.pop()
        return waiting[task], task.result()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    # No broker is contacted: test_context feeds the agent directly, and the outputs go to
    # in-memory Faust channels instead of topics.
    app = faust.App(
        "test-normalizers",
        broker="kafka://127.0.0.1:1",
        store="memory://",
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    canonical = app.channel(key_type=bytes, value_type=bytes)
    dead = app.channel(key_type=bytes, value_type=bytes)
    register_normalizers(
        app,
        TopicNames("t."),
        Normalizer(PiiHasher(b"agent-test-key-0123")),
        canonical=canonical,
        dead_letters=dead,
        partitions=1,
    )
    yield Harness(app, canonical.clone(is_iterator=True), dead.clone(is_iterator=True))


async def test_a_valid_event_becomes_a_canonical_touchpoint(harness: Harness) -> None:
    agent = harness.app.agents["normalize.web"]
    async with agent.test_context() as context:
        await context.put(key=b"c-1", value=json.dumps(PAGE).encode())
        kind, event = await harness.answer()
    assert kind == "touchpoint"
    touchpoint = Touchpoint.model_validate_json(event.value)
    assert (event.key, touchpoint.action) == (b"anon:c-1", "page_view")


async def test_every_bad_input_is_answered_with_a_dead_letter_and_the_agent_survives(
    harness: Harness,
) -> None:
    for channel in {channel for _, channel, _ in BAD_INPUTS}:
        agent = harness.app.agents[f"normalize.{channel}"]
        async with agent.test_context() as context:
            for name, bad_channel, value in BAD_INPUTS:
                if bad_channel is not channel:
                    continue
                await context.put(key=b"k", value=value)
                kind, event = await harness.answer()
                assert kind == "dead", name
                letter = parse_dead_letter(event.key, event.value, event.headers)
                assert letter.raw_value == (value or b""), name
            # Still alive: a valid record after all the bad ones is normalised.
            if channel is Channel.WEB:
                await context.put(key=b"k", value=json.dumps(PAGE).encode())
                assert (await harness.answer())[0] == "touchpoint"
