"""Search engine landings: a visit that arrived on the site from a search results page.

The site's landing detector emits one event per landing, paid (ad click) or organic.

    {"event_id": "land-5c1e", "type": "landing", "timestamp": "2026-03-05T09:14:03Z",
     "engine": "google", "paid": false, "query": null,
     "landing_url": "https://shop.example/products/trail-runner",
     "referrer": "https://www.google.com/", "anonymous_id": "c-81f2d0", "user_id": null,
     "user_agent": "Mozilla/5.0 ...", "gclid": null, "msclkid": null}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from schemas.raw.common import RAW, EventTime

#: Landing event types and the canonical action of each.
SEARCH_ACTIONS: dict[str, str] = {
    "landing": "search_landing",
}


class SearchEvent(BaseModel):
    """One arrival on the site from a search engine."""

    model_config = RAW

    event_id: str = Field(min_length=1, max_length=200)
    type: Literal["landing"]
    timestamp: EventTime
    engine: Annotated[str, StringConstraints(min_length=1, max_length=40, to_lower=True)] = Field(
        description="google, bing, duckduckgo, ecosia, ..."
    )
    paid: bool = Field(description="true for a click on a search ad, false for an organic result")
    query: str | None = Field(
        default=None, description="the search terms, when the engine or ad report passes them"
    )
    landing_url: str | None = None
    referrer: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    user_agent: str | None = None
    gclid: str | None = Field(default=None, description="Google Ads click id (paid)")
    msclkid: str | None = Field(default=None, description="Microsoft Ads click id (paid)")

    @model_validator(mode="after")
    def _check(self) -> SearchEvent:
        if not (self.anonymous_id or self.user_id):
            raise ValueError("anonymous_id or user_id is required")
        return self
