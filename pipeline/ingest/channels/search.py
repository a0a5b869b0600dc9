"""Search engine landings -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    identities,
    properties,
    utm_from_url,
    utm_with_defaults,
)
from schemas.raw.search import SEARCH_ACTIONS, SearchEvent
from schemas.touchpoint import Channel, Touchpoint


def search_touchpoint(event: SearchEvent, ctx: MapContext) -> Touchpoint:
    """A landing from a search engine, paid or organic."""
    # Untagged landings get the usual analytics defaults: <engine> / cpc or organic.
    utm = utm_with_defaults(
        utm_from_url(event.landing_url),
        source=event.engine,
        medium="cpc" if event.paid else "organic",
    )
    return ctx.touchpoint(
        event_id=f"search:{event.event_id}",
        event_time=event.timestamp,
        channel=Channel.SEARCH,
        platform=event.engine,
        action=SEARCH_ACTIONS[event.type],
        identities=identities(anonymous_id=event.anonymous_id, user_id=event.user_id),
        campaign=campaign(utm),
        is_bot=ctx.is_bot(event.user_agent),
        properties=properties(
            engine=event.engine,
            paid=event.paid,
            query=event.query,
            url=clean_url(event.landing_url),
            referrer=clean_url(event.referrer),
            click_id=event.gclid or event.msclkid,
        ),
    )


SPEC = ChannelSpec(
    Channel.SEARCH, SearchEvent, search_touchpoint, frozenset(SEARCH_ACTIONS.values())
)
