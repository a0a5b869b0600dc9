"""Ad platform impressions and clicks -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    identities,
    properties,
    utm_with_defaults,
)
from schemas.raw.ads import ADS_ACTIONS, AdsEvent
from schemas.touchpoint import Channel, Touchpoint


def ads_touchpoint(event: AdsEvent, ctx: MapContext) -> Touchpoint:
    """An ad impression or click; untagged ads are attributed to their platform and campaign."""
    utm = utm_with_defaults(event.utm, source=event.platform, campaign=event.campaign_name)
    return ctx.touchpoint(
        event_id=f"ads:{event.event_id}",
        event_time=event.timestamp,
        channel=Channel.ADS,
        platform=event.platform,
        action=ADS_ACTIONS[event.event_type],
        identities=identities(anonymous_id=event.anonymous_id, device_id=event.device_id),
        campaign=campaign(
            utm, campaign_id=event.campaign_id, ad_group_id=event.ad_group_id, ad_id=event.ad_id
        ),
        is_bot=ctx.is_bot(event.user_agent),
        properties=properties(placement=event.placement, click_id=event.click_id),
    )


SPEC = ChannelSpec(Channel.ADS, AdsEvent, ads_touchpoint, frozenset(ADS_ACTIONS.values()))
