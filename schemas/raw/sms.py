"""SMS provider webhooks (Twilio-style field names): delivery, link clicks and opt-outs.

    {"EventSid": "EV4c1d", "EventType": "clicked", "Timestamp": "2026-03-04T17:31:12Z",
     "MessageSid": "SM9a8b", "AccountSid": "AC11", "To": "+14155550142",
     "CampaignId": "spring-sms", "Url": "https://shop.example/spring?utm_source=sms",
     "UserAgent": "Mozilla/5.0 ..."}

`To` is the subscriber's number on every event type, opt-outs included.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from schemas.raw.common import RAW, EventTime

#: SMS event types and the canonical action of each.
SMS_ACTIONS: dict[str, str] = {
    "delivered": "sms_delivered",
    "clicked": "sms_clicked",
    "opted_out": "sms_opted_out",
}


class SmsEvent(BaseModel):
    """One event about one message to one subscriber."""

    model_config = RAW

    event_sid: str = Field(alias="EventSid", min_length=1, max_length=200)
    event_type: Literal["delivered", "clicked", "opted_out"] = Field(alias="EventType")
    timestamp: EventTime = Field(alias="Timestamp")
    message_sid: str | None = Field(default=None, alias="MessageSid")
    to: str = Field(
        alias="To", min_length=1, description="the subscriber's number; hashed at ingest"
    )
    campaign_id: str | None = Field(default=None, alias="CampaignId")
    url: str | None = Field(default=None, alias="Url", description="the clicked link (clicked)")
    user_agent: str | None = Field(
        default=None, alias="UserAgent", description="who followed the link (clicked)"
    )
