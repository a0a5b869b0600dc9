"""Point-of-sale and store events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import ChannelSpec, MapContext, identities, money, properties
from schemas.raw.common import item_count
from schemas.raw.store import STORE_ACTIONS, StoreEvent
from schemas.touchpoint import Channel, Touchpoint


def store_touchpoint(event: StoreEvent, ctx: MapContext) -> Touchpoint:
    """A store visit, or a purchase with the receipt's total as revenue."""
    receipt = event.receipt if event.type == "purchase" else None
    return ctx.touchpoint(
        event_id=f"store:{event.id}",
        event_time=event.occurred_at,
        channel=Channel.STORE,
        platform="pos",
        action=STORE_ACTIONS[event.type],
        identities=identities(loyalty_id=event.loyalty_id, user_id=event.customer_id),
        revenue=money(receipt.total) if receipt else None,
        currency=receipt.currency if receipt else None,
        properties=properties(
            store_id=event.store_id,
            register_id=event.register_id,
            receipt_id=receipt.id if receipt else None,
            item_count=item_count(receipt.items) if receipt and receipt.items else None,
        ),
    )


SPEC = ChannelSpec(Channel.STORE, StoreEvent, store_touchpoint, frozenset(STORE_ACTIONS.values()))
