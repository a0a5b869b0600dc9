"""Email service provider webhook events (SendGrid-style event webhook).

{"sg_event_id": "e-1", "event": "click", "timestamp": 1740910500,
 "email": "ann@example.com", "sg_message_id": "msg-9", "campaign_id": "newsletter-2026-03",
 "category": ["newsletter"], "url": "https://shop.example/v?utm_source=newsletter",
 "user_id": "u-17"}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from schemas.raw.common import RAW, EventTime

#: ESP event types and the canonical action of each.
EMAIL_ACTIONS: dict[str, str] = {
    "delivered": "email_delivered",
    "open": "email_opened",
    "click": "email_clicked",
    "unsubscribe": "email_unsubscribed",
    "bounce": "email_bounced",
}


class EmailEvent(BaseModel):
    """One event about one message to one recipient."""

    model_config = RAW

    sg_event_id: str = Field(min_length=1, max_length=200)
    event: Literal["delivered", "open", "click", "unsubscribe", "bounce"]
    timestamp: EventTime
    email: str = Field(description="the recipient; hashed at ingest, never stored")
    sg_message_id: str | None = None
    campaign_id: str | None = None
    category: list[str] | str | None = None
    url: str | None = Field(default=None, description="the clicked link (click events)")
    user_id: str | None = Field(default=None, description="custom argument: the customer id")
    provider: str = "esp"
