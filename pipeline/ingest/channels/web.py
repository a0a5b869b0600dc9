"""Web tracker events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    identities,
    money,
    properties,
    utm_from_url,
)
from schemas.raw.web import TRACK_ACTIONS, WebEvent
from schemas.touchpoint import Channel, Touchpoint


def web_touchpoint(event: WebEvent, ctx: MapContext) -> Touchpoint:
    page = event.context.page
    action = "page_view" if event.type == "page" else TRACK_ACTIONS[event.event or ""]
    return ctx.touchpoint(
        event_id=f"web:{event.message_id}",
        event_time=event.timestamp,
        channel=Channel.WEB,
        platform="website",
        action=action,
        identities=identities(anonymous_id=event.anonymous_id, user_id=event.user_id),
        campaign=campaign(event.context.campaign or utm_from_url(page.url)),
        is_bot=ctx.is_bot(event.context.user_agent),
        properties=properties(
            url=clean_url(page.url),
            path=page.path,
            referrer=clean_url(page.referrer),
            product_id=event.properties.get("product_id"),
            query=event.properties.get("query"),
            cart_value=money(event.properties.get("value") or event.properties.get("price")),
            segment=event.properties.get("segment"),  # the persona or audience, if tagged
        ),
    )


SPEC = ChannelSpec(
    Channel.WEB, WebEvent, web_touchpoint, frozenset({"page_view", *TRACK_ACTIONS.values()})
)
