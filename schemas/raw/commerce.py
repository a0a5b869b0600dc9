"""E-commerce backend order webhooks (Shopify-style `orders/create` and `orders/refunded`).

The webhook relay copies the topic header into the body; the body is the order. A refund
carries the order as it stands plus the `refund` that triggered the webhook.

    {"topic": "orders/create", "id": 5001, "created_at": "2026-03-09T19:55:02+01:00",
     "customer": {"id": "u-1042", "email": "ann.lee@example.com", "phone": "+49 30 1234567"},
     "total_price": "129.00", "currency": "EUR",
     "line_items": [{"sku": "sku-trail-42", "quantity": 1, "price": "119.00"}],
     "anonymous_id": "c-81f2d0", "cart_token": "Z2NwLWV1",
     "landing_site": "/products/trail-runner?utm_source=newsletter&utm_medium=email",
     "source_name": "web",
     "refund": {"id": 9101, "created_at": "2026-03-16T10:20:00+01:00", "amount": "10.00",
                "line_items": [{"sku": "sku-sock-07", "quantity": 2, "price": "5.00"}]}}

"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, Amount, Currency, EventTime, LineItem, RawId

CommerceTopic = Literal["orders/create", "orders/refunded"]

#: Webhook topics and the canonical action of each.
COMMERCE_ACTIONS: dict[CommerceTopic, str] = {
    "orders/create": "order_placed",
    "orders/refunded": "order_refunded",
}


class Customer(BaseModel):
    """The buyer as the shop knows them; guest checkouts may lack the id."""

    model_config = RAW

    id: RawId | None = Field(default=None, description="the shop's customer id")
    email: str | None = Field(default=None, description="hashed at ingest, never stored")
    phone: str | None = Field(default=None, description="hashed at ingest, never stored")


class Refund(BaseModel):
    """The refund an `orders/refunded` webhook is about."""

    model_config = RAW

    id: RawId
    created_at: EventTime
    amount: Amount = Field(description="the amount refunded, positive")
    line_items: list[LineItem] = Field(default_factory=list, description="the lines refunded")


class CommerceEvent(BaseModel):
    """One order webhook: an order placed, or refunded (in part or whole)."""

    model_config = RAW

    topic: CommerceTopic = Field(description="the webhook topic header")
    id: RawId = Field(description="the order id")
    created_at: EventTime = Field(description="when the order was placed")
    customer: Customer = Customer()
    total_price: Amount
    currency: Currency
    line_items: list[LineItem] = Field(default_factory=list)
    anonymous_id: str | None = Field(
        default=None, description="the web tracker's anonymous id, passed through the cart"
    )
    cart_token: str | None = Field(
        default=None, description="the storefront cart's token: the anonymous id if none"
    )
    landing_site: str | None = Field(
        default=None, description="first page of the buying session (path or URL, with UTM)"
    )
    source_name: str | None = Field(default=None, description="web, pos, app, ...")
    refund: Refund | None = Field(default=None, description="orders/refunded: the refund")

    @model_validator(mode="after")
    def _check(self) -> CommerceEvent:
        customer = self.customer
        if not (
            customer.id or customer.email or customer.phone or self.anonymous_id or self.cart_token
        ):
            raise ValueError(
                "an identifier is required: customer.id, customer.email, customer.phone, "
                "anonymous_id or cart_token"
            )
        if self.topic == "orders/refunded":
            if self.refund is None:
                raise ValueError("refund is required for orders/refunded")
            if not Decimal(self.refund.amount) > 0:
                raise ValueError("refund.amount must be more than zero")
            if Decimal(self.refund.amount) > Decimal(self.total_price):
                raise ValueError("refund.amount must not exceed total_price")
        return self
