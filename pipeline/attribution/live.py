"""Crediting conversions as the journey engine applies them.

A touch is a visit or contact: the touchpoint that opened one of the customer's sessions,
with its channel, campaign and source (as web analytics credit a session's traffic
source, not each page of it). When the engine applies a purchase (in event-time order,
once final), its path is the customer's touches before it (among the latest `path_limit`
touchpoints the engine keeps), purchases left out, within the lookback (and after the
previous purchase, if so configured); every model credits it. A late touch that falls
inside the lookback of a later purchase credits that purchase again, as a new version.

    credits = conversion_credits(state, purchase_step, config, version)
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pipeline.attribution.heuristics import AttributionConfig, Model, Touch, credit, path_within
from pipeline.journeys.state import CustomerState, PathStep
from schemas.outputs import AttributionCredit

#: The goal of a purchase's credits (others: the conversion-goal stage reached).
PURCHASE = "purchase"


def conversion_credits(
    state: CustomerState,
    conversion: PathStep,
    config: AttributionConfig,
    version: int,
    goal: str = PURCHASE,
) -> list[AttributionCredit]:
    """Every model's credits for `conversion`, one of `state`'s purchases or the step
    that first reached a conversion-goal stage (worth no revenue)."""
    at = conversion.event_time
    touches = [
        Touch(step.event_id, step.event_time, step.channel, step.campaign, step.source)
        for step in state.path
        if step.entry and not step.purchase
    ]
    since = None
    if config.since_previous_conversion:
        since = max(
            (s.event_time for s in state.path if s.purchase and s.event_time < at), default=None
        )
    path = path_within(touches, at, config.lookback, since)
    purchase = goal == PURCHASE
    revenue = conversion.revenue if purchase and conversion.revenue is not None else Decimal(0)
    return [
        AttributionCredit(
            conversion_id=conversion.event_id if purchase else f"{goal}:{conversion.event_id}",
            goal=goal,
            customer_id=state.customer_id,
            converted_at=at,
            model=model.value,
            touch_event_id=part.touch.event_id,
            touch_time=part.touch.at,
            channel=part.touch.channel,
            campaign=part.touch.campaign,
            source=part.touch.source,
            conversions=part.conversions,
            revenue=part.revenue,
            version=version,
        )
        for model in Model
        for part in credit(path, at, revenue, model, config)
    ]


def conversions_touched_by(
    state: CustomerState, touch: PathStep, config: AttributionConfig
) -> Iterator[tuple[PathStep, str]]:
    """The conversions (purchases, goals reached) whose paths a (late) touch joins, each
    with its goal."""
    for step in state.path:
        if touch.event_time <= step.event_time <= touch.event_time + config.lookback:
            if step.purchase:
                yield step, PURCHASE
            if step.goal is not None:
                yield step, step.goal
