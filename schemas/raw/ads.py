"""Ad platform events: impressions and clicks, as an ads connector exports them per event.

{"event_id": "ig-imp-9f21", "event_type": "impression",
 "timestamp": "2026-03-01T12:58:10+01:00", "platform": "instagram",
 "campaign_id": "120210000000001", "campaign_name": "spring-giveaway",
 "adset_id": "120210000000101", "ad_id": "120210000001001", "placement": "instagram_stories",
 "click_id": null, "anonymous_id": "c-81f2d0", "device_id": null,
 "utm": {"source": "instagram", "medium": "paid_social", "campaign": "spring-giveaway"},
 "user_agent": "Mozilla/5.0 (iPhone; ...) Instagram 320.0"}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints, model_validator

from schemas.raw.common import RAW, EventTime, Utm

#: Ad event types and the canonical action of each.
ADS_ACTIONS: dict[str, str] = {
    "impression": "ad_impression",
    "click": "ad_click",
}


class AdsEvent(BaseModel):
    """One impression or click of one ad, seen by one browser or device."""

    model_config = RAW

    event_id: str = Field(min_length=1, max_length=200)
    event_type: Literal["impression", "click"]
    timestamp: EventTime
    platform: Annotated[str, StringConstraints(min_length=1, max_length=40, to_lower=True)] = Field(
        description="the ad platform: instagram, facebook, google, youtube, tiktok, ..."
    )
    campaign_id: str | None = None
    campaign_name: str | None = None
    ad_group_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ad_group_id", "adset_id", "ad_set_id"),
        description="Google's ad group, Meta's ad set",
    )
    ad_id: str | None = None
    click_id: str | None = Field(
        default=None, description="the platform's click id (gclid, fbclid, ttclid, ...): clicks"
    )
    placement: str | None = Field(
        default=None, description="where the ad ran, e.g. instagram_stories, search, feed"
    )
    utm: Utm | None = Field(default=None, description="UTM parameters of the ad's landing URL")
    anonymous_id: str | None = Field(default=None, description="the site's cookie id, if matched")
    device_id: str | None = Field(default=None, description="mobile advertising id (IDFA/GAID)")
    user_agent: str | None = None

    @model_validator(mode="after")
    def _check(self) -> AdsEvent:
        if not (self.anonymous_id or self.device_id):
            raise ValueError("anonymous_id or device_id is required")
        return self
