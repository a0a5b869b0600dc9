"""E-commerce order webhooks -> touchpoints."""

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
from schemas.raw.commerce import COMMERCE_ACTIONS, CommerceEvent
from schemas.raw.common import item_count
from schemas.touchpoint import Channel, Touchpoint


def commerce_touchpoint(event: CommerceEvent, ctx: MapContext) -> Touchpoint:
    """An order placed (revenue = total) or refunded (revenue = minus the refund)."""
    refund = event.refund if event.topic == "orders/refunded" else None
    if refund is None:
        key, when, items = event.id, event.created_at, event.line_items
        revenue = money(event.total_price)
    else:
        key, when, items = refund.id, refund.created_at, refund.line_items
        revenue = money(f"-{refund.amount}", signed=True)  # the contract keeps amounts unsigned
    customer = event.customer
    return ctx.touchpoint(
        event_id=f"commerce:{event.topic}:{key}",
        event_time=when,
        channel=Channel.COMMERCE,
        platform="shop_backend",
        action=COMMERCE_ACTIONS[event.topic],
        identities=identities(
            user_id=customer.id,
            email_hash=ctx.email_hash(customer.email),
            phone_hash=ctx.phone_hash(customer.phone),
            anonymous_id=event.anonymous_id or event.cart_token,
        ),
        campaign=campaign(utm_from_url(event.landing_site)),
        revenue=revenue,
        currency=event.currency,
        properties=properties(
            order_id=event.id,
            refund_id=refund.id if refund else None,
            item_count=item_count(items) if items else None,
            source=event.source_name,
            landing_page=clean_url(event.landing_site),
        ),
    )


SPEC = ChannelSpec(
    Channel.COMMERCE, CommerceEvent, commerce_touchpoint, frozenset(COMMERCE_ACTIONS.values())
)
