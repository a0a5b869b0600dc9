"""Mobile push provider events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import ChannelSpec, MapContext, campaign, identities, properties
from schemas.raw.push import PUSH_ACTIONS, PushEvent
from schemas.touchpoint import Channel, Touchpoint


def push_touchpoint(event: PushEvent, ctx: MapContext) -> Touchpoint:
    """A push notification sent, opened or dismissed on one device."""
    return ctx.touchpoint(
        event_id=f"push:{event.event_id}",
        event_time=event.timestamp,
        channel=Channel.PUSH,
        platform="push_provider",
        action=PUSH_ACTIONS[event.event],
        identities=identities(device_id=event.device_id, user_id=event.user_id),
        campaign=campaign(campaign_id=event.campaign_id),
        properties=properties(
            notification_id=event.notification_id, device_platform=event.platform
        ),
    )


SPEC = ChannelSpec(Channel.PUSH, PushEvent, push_touchpoint, frozenset(PUSH_ACTIONS.values()))
