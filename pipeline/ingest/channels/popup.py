"""On-site popup events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    hashed,
    identities,
    properties,
)
from schemas.raw.popup import POPUP_ACTIONS, PopupEvent
from schemas.touchpoint import Channel, Touchpoint


def popup_touchpoint(event: PopupEvent, ctx: MapContext) -> Touchpoint:
    """A popup shown, dismissed or submitted; a submitted email arrives only as a hash."""
    return ctx.touchpoint(
        event_id=f"popup:{event.event_id}",
        event_time=event.timestamp,
        channel=Channel.POPUP,
        platform="popup_tool",
        action=POPUP_ACTIONS[event.event],
        identities=identities(
            anonymous_id=event.anonymous_id,
            email_hash=hashed("email", ctx.email_hash, event.email),
        ),
        campaign=campaign(campaign_id=event.campaign_id),
        is_bot=ctx.is_bot(event.user_agent),
        properties=properties(
            popup_id=event.popup_id,
            trigger=event.trigger,
            offer=event.offer,
            coupon_code=event.coupon_code,
            url=clean_url(event.page_url),
        ),
    )


SPEC = ChannelSpec(Channel.POPUP, PopupEvent, popup_touchpoint, frozenset(POPUP_ACTIONS.values()))
