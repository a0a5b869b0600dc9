"""Factories for test data: touchpoints and engines in a line each."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.clock import PartitionClock
from pipeline.journeys.engine import EngineConfig, Outputs
from pipeline.journeys.partition import DictStore, JourneyPartition
from pipeline.journeys.stages import StageModel, load_stage_model
from pipeline.settings import STAGE_MODELS
from schemas.touchpoint import Campaign, Channel, Identities, RawRef, Touchpoint

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)

CHANNEL_OF = {action: channel for channel, actions in KNOWN_ACTIONS.items() for action in actions}


def five_stage_model() -> StageModel:
    return load_stage_model(STAGE_MODELS / "default.yml", KNOWN_ACTIONS)


def touchpoint(
    action: str,
    at: datetime | timedelta = T0,
    *,
    user: str = "u-1",
    event_id: str | None = None,
    revenue: str | None = None,
    campaign: str | None = None,
    score: float | None = None,
    sentiment: float | None = None,
    is_bot: bool = False,
    identities: Identities | None = None,
    **properties: str,
) -> Touchpoint:
    """A touchpoint of `action` (its channel follows) at `at` (a time, or T0 + a delta),
    by user `user` unless `identities` says otherwise."""
    when = T0 + at if isinstance(at, timedelta) else at
    return Touchpoint(
        event_id=event_id or f"e-{next(_ids)}",
        event_time=when,
        received_at=when,
        channel=Channel(CHANNEL_OF[action]),
        platform="test",
        action=action,
        identities=identities or Identities(user_id=user),
        campaign=Campaign(name=campaign) if campaign else None,
        revenue=Decimal(revenue) if revenue else None,
        currency="EUR" if revenue else None,
        score=score,
        sentiment=sentiment,
        is_bot=is_bot,
        properties=properties,
        raw=RawRef(topic="test", partition=0, offset=0),
    )


def engine_config(**changes: object) -> EngineConfig:
    return EngineConfig(stage_model=five_stage_model(), **changes)  # type: ignore[arg-type]


def partition(config: EngineConfig | None = None, **clock: float) -> JourneyPartition:
    config = config or engine_config()
    return JourneyPartition(
        0, DictStore(), config, PartitionClock(lateness=config.allowed_lateness, **clock)
    )


def run(
    touchpoints: list[Touchpoint], config: EngineConfig | None = None, flush: bool = True
) -> tuple[Outputs, JourneyPartition]:
    """Feed touchpoints in the given order (customer = user id), then close everything."""
    engine = partition(config)
    out = Outputs()
    for wall, tp in enumerate(touchpoints):
        out.extend(engine.on_touchpoint(tp.identities.user_id or "?", tp, float(wall)))
    if flush:
        out.extend(engine.flush())
    return out, engine
