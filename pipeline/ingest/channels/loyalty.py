"""Loyalty programme events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import ChannelSpec, MapContext, identities, properties
from schemas.raw.loyalty import LOYALTY_ACTIONS, LoyaltyEvent
from schemas.touchpoint import Channel, Touchpoint


def loyalty_touchpoint(event: LoyaltyEvent, ctx: MapContext) -> Touchpoint:
    """A sign-up, points earned or redeemed, or a tier change of one member."""
    member = event.member
    return ctx.touchpoint(
        event_id=f"loyalty:{event.id}",
        event_time=event.occurred_at,
        channel=Channel.LOYALTY,
        platform="loyalty_platform",
        action=LOYALTY_ACTIONS[event.type],
        identities=identities(
            loyalty_id=member.loyalty_id,
            user_id=member.customer_id,
            email_hash=ctx.email_hash(member.email),
        ),
        properties=properties(
            points=event.points,
            balance=event.balance,
            tier=event.tier,
            previous_tier=event.previous_tier,
            reason=event.reason,
            order_id=event.order_id,
        ),
    )


SPEC = ChannelSpec(
    Channel.LOYALTY, LoyaltyEvent, loyalty_touchpoint, frozenset(LOYALTY_ACTIONS.values())
)
