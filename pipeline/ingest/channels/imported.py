"""Rows replayed from files -> touchpoints of the channel each row names.

The row already speaks the canonical language, so mapping is mostly checking: the action
must be one the named channel's own normaliser can produce (stage rules only know those),
or `custom_event` for a row that names only its source's own event (kept as property
`event`, which stage rules match), personal data is hashed, the URL cleaned and the user
agent read for bots only.
"""

from __future__ import annotations

import importlib
from typing import get_args

from pipeline.ingest.channels.base import (
    CUSTOM_EVENT,
    ChannelSpec,
    MapContext,
    campaign,
    clean_url,
    hashed,
    identities,
    money,
    properties,
    utm_from_url,
)
from schemas.raw import module_name
from schemas.raw.common import Utm
from schemas.raw.imported import ImportChannel, ImportEvent
from schemas.touchpoint import Campaign, Channel, Touchpoint

#: What each channel's own normaliser can produce: an imported row may claim only these.
CHANNEL_ACTIONS: dict[str, frozenset[str]] = {
    name: importlib.import_module(f"{__package__}.{module_name(name)}").SPEC.actions
    for name in get_args(ImportChannel)
}


def import_touchpoint(event: ImportEvent, ctx: MapContext) -> Touchpoint:
    """A touchpoint on the row's own channel, with the row's event time."""
    known = CHANNEL_ACTIONS[event.channel]
    action = event.action or CUSTOM_EVENT
    if action not in known and action != CUSTOM_EVENT:
        raise ValueError(
            f"action: {action!r} is not an action of channel {event.channel} "
            f"(known: {', '.join(sorted(known))})"
        )
    own = {"event": event.event} if event.event is not None else {}
    return ctx.touchpoint(
        event_id=f"import:{event.event_id}",
        event_time=event.event_time,
        channel=Channel(event.channel),
        platform=(event.platform or "import").lower(),
        action=action,
        identities=identities(
            user_id=event.user_id,
            anonymous_id=event.anonymous_id,
            email_hash=hashed("email", ctx.email_hash, event.email),
            phone_hash=hashed("phone", ctx.phone_hash, event.phone),
            loyalty_id=event.loyalty_id,
            device_id=event.device_id,
        ),
        campaign=_campaign(event),
        revenue=money(event.revenue, signed=action == "order_refunded"),
        currency=event.currency,
        score=event.score,
        sentiment=event.sentiment,
        is_bot=ctx.is_bot(event.user_agent),
        properties={
            **properties(**event.properties),
            **properties(url=clean_url(event.page_url), **own),
        },
    )


def _campaign(event: ImportEvent) -> Campaign | None:
    """The mapped campaign fields; UTM parameters of the page URL fill the gaps."""
    given = event.campaign
    utm = utm_from_url(event.page_url) or Utm()
    if given is None:
        return campaign(utm)
    return campaign(
        Utm(
            source=given.source or utm.source,
            medium=given.medium or utm.medium,
            campaign=given.name or utm.campaign,
            content=given.content or utm.content,
            term=given.term or utm.term,
        ),
        campaign_id=given.campaign_id,
        ad_group_id=given.ad_group_id,
        ad_id=given.ad_id,
    )


SPEC = ChannelSpec(
    Channel.IMPORT,
    ImportEvent,
    import_touchpoint,
    frozenset().union(*CHANNEL_ACTIONS.values(), {CUSTOM_EVENT}),
)
