"""On-site popup tool events (OptinMonster-style): a popup shown, dismissed or submitted.

{"event_id": "om-ev-88d1", "event": "submitted", "timestamp": "2026-03-03T16:59:30+01:00",
 "campaign_id": "exit-10off", "popup_id": "om-form-12", "trigger": "exit_intent",
 "offer": "10% off your first order", "coupon_code": "SPRING10",
 "anonymous_id": "c-81f2d0", "email": "ann@example.com",
 "page_url": "https://shop.example/cart", "user_agent": "Mozilla/5.0 ..."}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime

#: Popup event types and the canonical action of each.
POPUP_ACTIONS: dict[str, str] = {
    "shown": "popup_shown",
    "dismissed": "popup_dismissed",
    "submitted": "popup_submitted",
}


class PopupEvent(BaseModel):
    """One popup event for one visitor."""

    model_config = RAW

    event_id: str = Field(min_length=1, max_length=200)
    event: Literal["shown", "dismissed", "submitted"]
    timestamp: EventTime
    campaign_id: str | None = Field(default=None, description="the popup tool's campaign")
    popup_id: str | None = Field(default=None, description="the popup (form) within it")
    trigger: str | None = Field(
        default=None, description="what opened it: exit_intent, scroll, timed, click, ..."
    )
    offer: str | None = Field(default=None, description="the offer's label, set by the brand")
    coupon_code: str | None = None
    anonymous_id: str | None = None
    email: str | None = Field(
        default=None, description="entered in the form (submitted); hashed at ingest"
    )
    page_url: str | None = None
    user_agent: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PopupEvent:
        if self.event == "submitted" and not self.email:
            raise ValueError("email is required for a submitted event")
        if not (self.anonymous_id or self.email):
            raise ValueError("anonymous_id or email is required")
        return self
