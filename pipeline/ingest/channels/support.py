"""Help desk ticket events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    identities,
    properties,
    sentiment,
)
from schemas.raw.support import RATING_SCALE, SUPPORT_ACTIONS, SupportEvent
from schemas.touchpoint import Channel, Touchpoint


def support_touchpoint(event: SupportEvent, ctx: MapContext) -> Touchpoint:
    """A ticket opened, solved or rated (the CSAT rating as score and sentiment)."""
    requester = event.requester
    rating = event.rating if event.event == "ticket.rated" else None
    return ctx.touchpoint(
        event_id=f"support:{event.id}",
        event_time=event.timestamp,
        channel=Channel.SUPPORT,
        platform="help_desk",
        action=SUPPORT_ACTIONS[event.event],
        identities=identities(
            user_id=requester.user_id,
            email_hash=ctx.email_hash(requester.email),
            phone_hash=ctx.phone_hash(requester.phone),
        ),
        score=rating,
        sentiment=sentiment(rating, *RATING_SCALE),
        properties=properties(ticket_id=event.ticket_id, via=event.via, category=event.category),
    )


SPEC = ChannelSpec(
    Channel.SUPPORT, SupportEvent, support_touchpoint, frozenset(SUPPORT_ACTIONS.values())
)
