"""Mobile push provider events (OneSignal/Braze-style): a notification sent, opened, dismissed.

{"event_id": "pe-51f0", "notification_id": "n-7781", "event": "opened",
 "timestamp": 1772735400, "device_id": "d-3f9a", "user_id": "u-1042",
 "campaign_id": "spring-push", "platform": "ios"}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime

#: Push event types and the canonical action of each.
PUSH_ACTIONS: dict[str, str] = {
    "sent": "push_sent",
    "opened": "push_opened",
    "dismissed": "push_dismissed",
}


class PushEvent(BaseModel):
    """One event about one notification on one device."""

    model_config = RAW

    event_id: str = Field(min_length=1, max_length=200)
    notification_id: str | None = Field(
        default=None, description="the notification; shared by its sent/opened/dismissed events"
    )
    event: Literal["sent", "opened", "dismissed"]
    timestamp: EventTime
    device_id: str | None = Field(default=None, description="the provider's device/subscription id")
    user_id: str | None = Field(default=None, description="the brand's customer id (external id)")
    campaign_id: str | None = None
    platform: Literal["ios", "android", "web"] | None = Field(
        default=None, description="the device's platform"
    )

    @model_validator(mode="after")
    def _check(self) -> PushEvent:
        if not (self.device_id or self.user_id):
            raise ValueError("device_id or user_id is required")
        return self
