"""Video player / video analytics events: a view started, progressed, completed.

{"event_id": "vid-2b7e", "event": "progress", "timestamp": "2026-03-09T18:41:30Z",
 "platform": "youtube", "video_id": "abc123", "title": "Trail Runner: spring test",
 "percent_watched": 50, "anonymous_id": "c-81f2d0", "user_id": null,
 "utm": {"source": "newsletter", "medium": "email", "campaign": "march"},
 "user_agent": "Mozilla/5.0 ..."}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints, model_validator

from schemas.raw.common import RAW, EventTime, Utm

#: Player event types and the canonical action of each.
VIDEO_ACTIONS: dict[str, str] = {
    "view_started": "video_started",
    "progress": "video_progress",
    "completed": "video_completed",
}


class VideoEvent(BaseModel):
    """One player event of one viewer watching one video."""

    model_config = RAW

    event_id: str = Field(min_length=1, max_length=200)
    event: Literal["view_started", "progress", "completed"]
    timestamp: EventTime
    platform: Annotated[str, StringConstraints(min_length=1, max_length=40, to_lower=True)] = Field(
        description="where it played: youtube, vimeo, website (the site's own player)"
    )
    video_id: str = Field(min_length=1, max_length=200)
    title: str | None = None
    percent_watched: float | None = Field(
        default=None, ge=0, le=100, description="how far the viewer got, 0..100 (progress)"
    )
    anonymous_id: str | None = None
    user_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("user_id", "viewer_id"),
        description="the brand's customer id, when the player knows it",
    )
    utm: Utm | None = None
    user_agent: str | None = None

    @model_validator(mode="after")
    def _check(self) -> VideoEvent:
        if not (self.anonymous_id or self.user_id):
            raise ValueError("anonymous_id or user_id is required")
        if self.event == "progress" and self.percent_watched is None:
            raise ValueError("percent_watched is required for a progress event")
        return self
