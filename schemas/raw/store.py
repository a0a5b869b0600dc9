"""Point-of-sale and store systems: identified visits and till purchases.

A visit is a loyalty card or app check-in at the door; a purchase is a closed receipt at
a register. Times carry the store's own offset.

    {"id": "pos-ev-120431", "type": "purchase", "occurred_at": "2026-04-04T11:42:30+02:00",
     "store_id": "ber-mitte-01", "register_id": "R3", "loyalty_id": "L-778899",
     "customer_id": null,
     "receipt": {"id": "RC-0404-2231", "total": "89.90", "currency": "EUR",
                 "items": [{"sku": "sku-shirt-11", "quantity": 1, "price": "59.90"}]}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, Amount, Currency, EventTime, LineItem, RawId

StoreType = Literal["visit", "purchase"]

#: Store event types and the canonical action of each.
STORE_ACTIONS: dict[StoreType, str] = {
    "visit": "store_visit",
    "purchase": "store_purchase",
}


class Receipt(BaseModel):
    """A closed till receipt."""

    model_config = RAW

    id: RawId
    total: Amount = Field(description="the amount paid, e.g. '89.90'")
    currency: Currency
    items: list[LineItem] = Field(default_factory=list)


class StoreEvent(BaseModel):
    """One identified visit or purchase in a store."""

    model_config = RAW

    id: RawId = Field(description="the event id")
    type: StoreType
    occurred_at: EventTime = Field(description="local time with the store's offset")
    store_id: str = Field(min_length=1)
    register_id: str | None = Field(default=None, description="the till (purchases)")
    loyalty_id: str | None = Field(default=None, description="the loyalty card scanned")
    customer_id: RawId | None = Field(default=None, description="the shop's customer id")
    receipt: Receipt | None = Field(default=None, description="purchases: the receipt")

    @model_validator(mode="after")
    def _check(self) -> StoreEvent:
        if not (self.loyalty_id or self.customer_id):
            raise ValueError("an identifier is required: loyalty_id or customer_id")
        if self.type == "purchase" and self.receipt is None:
            raise ValueError("receipt is required for a purchase")
        return self
