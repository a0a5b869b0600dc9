"""Web site tracker events (Segment/RudderStack-style `page` and `track` calls).

{"messageId": "m-1", "type": "track", "event": "Product Viewed",
 "anonymousId": "c-81f", "userId": null, "timestamp": "2026-03-02T10:15:00Z",
 "context": {"userAgent": "Mozilla/5.0 ...",
             "page": {"url": "https://shop.example/p/sku-1", "referrer": "https://www.google.com/"},
             "campaign": {"source": "newsletter", "medium": "email", "name": "march"}},
 "properties": {"product_id": "sku-1", "price": 49.9}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime, Scalar, Utm

#: `track` event names the web channel understands, and the canonical action of each.
TRACK_ACTIONS: dict[str, str] = {
    "Product Viewed": "product_view",
    "Products Searched": "site_search",
    "Product Added": "add_to_cart",
    "Checkout Started": "checkout_started",
    "Signed In": "signed_in",
    "Signed Up": "signed_up",
    "Comparison Viewed": "comparison_view",
    "Content Downloaded": "content_download",
}


class WebPage(BaseModel):
    model_config = RAW

    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    title: str | None = None


class WebContext(BaseModel):
    model_config = RAW

    user_agent: str | None = Field(default=None, alias="userAgent")
    page: WebPage = WebPage()
    campaign: Utm | None = None


class WebEvent(BaseModel):
    """One `page` or `track` call from the site's tracker."""

    model_config = RAW

    message_id: str = Field(alias="messageId", min_length=1, max_length=200)
    type: Literal["page", "track"]
    event: str | None = Field(default=None, description="track calls: one of TRACK_ACTIONS")
    anonymous_id: str | None = Field(default=None, alias="anonymousId")
    user_id: str | None = Field(default=None, alias="userId")
    timestamp: EventTime
    context: WebContext = WebContext()
    properties: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> WebEvent:
        if not self.anonymous_id and not self.user_id:
            raise ValueError("anonymousId or userId is required")
        if self.type == "track" and self.event not in TRACK_ACTIONS:
            raise ValueError(
                f"unknown track event {self.event!r}; known: {', '.join(sorted(TRACK_ACTIONS))}"
            )
        return self
