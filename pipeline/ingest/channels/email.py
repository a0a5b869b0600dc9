"""Email service provider events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    identities,
    properties,
    utm_from_url,
)
from schemas.raw.email import EMAIL_ACTIONS, EmailEvent
from schemas.touchpoint import Channel, Touchpoint


def email_touchpoint(event: EmailEvent, ctx: MapContext) -> Touchpoint:
    category = (
        event.category[0] if isinstance(event.category, list) and event.category else event.category
    )
    return ctx.touchpoint(
        event_id=f"email:{event.sg_event_id}",
        event_time=event.timestamp,
        channel=Channel.EMAIL,
        platform=event.provider,
        action=EMAIL_ACTIONS[event.event],
        identities=identities(email_hash=ctx.email_hash(event.email), user_id=event.user_id),
        campaign=campaign(utm_from_url(event.url), campaign_id=event.campaign_id),
        properties=properties(
            message_id=event.sg_message_id,
            category=category if isinstance(category, str) else None,
            url=clean_url(event.url),
        ),
    )


SPEC = ChannelSpec(Channel.EMAIL, EmailEvent, email_touchpoint, frozenset(EMAIL_ACTIONS.values()))
