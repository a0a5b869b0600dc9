"""SMS provider webhooks -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    hashed,
    identities,
    properties,
    utm_from_url,
)
from schemas.raw.sms import SMS_ACTIONS, SmsEvent
from schemas.touchpoint import Channel, Touchpoint


def sms_touchpoint(event: SmsEvent, ctx: MapContext) -> Touchpoint:
    """An SMS delivery, click or opt-out; the number arrives only as a hash."""
    return ctx.touchpoint(
        event_id=f"sms:{event.event_sid}",
        event_time=event.timestamp,
        channel=Channel.SMS,
        platform="sms_provider",
        action=SMS_ACTIONS[event.event_type],
        identities=identities(phone_hash=hashed("To", ctx.phone_hash, event.to)),
        campaign=campaign(utm_from_url(event.url), campaign_id=event.campaign_id),
        is_bot=ctx.is_bot(event.user_agent),
        properties=properties(message_id=event.message_sid, url=clean_url(event.url)),
    )


SPEC = ChannelSpec(Channel.SMS, SmsEvent, sms_touchpoint, frozenset(SMS_ACTIONS.values()))
