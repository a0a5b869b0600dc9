"""Rows replayed from files (`journeys replay`): the canonical fields, personal data still plain.

Topic `touchpoints.raw.import`. A mapping file turns each row of a CSV, JSON Lines or
Parquet export into this shape; the import normaliser then hashes the email and phone,
flags bots, cleans the URL and checks the action against the named channel, exactly as
for live traffic. The touchpoint takes the channel the row names, never `import`. A row
may carry its source's own event name (`event`) instead of, or beside, an action.

    {"event_id": "orders.csv:17", "event_time": "2026-03-15T18:52:00+01:00",
     "channel": "commerce", "platform": "shopify", "action": "order_placed",
     "user_id": "u-1042", "email": "ann.lee@example.com",
     "revenue": "129.00", "currency": "EUR",
     "campaign": {"source": "newsletter", "medium": "email", "name": "march"},
     "page_url": "https://shop.example/checkout?utm_source=newsletter",
     "properties": {"order_id": "5001", "item_count": 2}}

(The module is `imported` because `import` is a Python keyword; the channel, topic and
JSON Schema file are named `import`.)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, Currency, EventTime, RawId, Scalar

#: The channels an imported row may claim: every channel family but `import` itself.
ImportChannel = Literal[
    "ads",
    "search",
    "web",
    "chat",
    "popup",
    "email",
    "sms",
    "push",
    "video",
    "commerce",
    "loyalty",
    "store",
    "support",
    "feedback",
]

#: An amount of money as a decimal string; negative for refunds, e.g. "-10.00".
SignedAmount = Annotated[str, Field(pattern=r"^-?\d{1,12}(\.\d{1,4})?$")]

#: A property name as stage rules and analysts write it.
PropertyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]

#: The identifier fields, in the order the docs list them.
IDENTIFIERS: tuple[str, ...] = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "loyalty_id",
    "device_id",
)


class ImportCampaign(BaseModel):
    """Campaign fields, as in the canonical touchpoint."""

    model_config = RAW

    source: str | None = Field(default=None, max_length=200, description="utm_source")
    medium: str | None = Field(default=None, max_length=200, description="utm_medium")
    name: str | None = Field(default=None, max_length=200, description="utm_campaign")
    content: str | None = Field(default=None, max_length=200, description="utm_content")
    term: str | None = Field(default=None, max_length=200, description="utm_term")
    campaign_id: str | None = Field(default=None, max_length=200)
    ad_group_id: str | None = Field(default=None, max_length=200)
    ad_id: str | None = Field(default=None, max_length=200)


class ImportEvent(BaseModel):
    """One row of an exported file, mapped onto the canonical fields."""

    model_config = RAW

    event_id: RawId = Field(description="unique within the import; the touchpoint's id "
                            "becomes import:<event_id>")  # fmt: skip
    event_time: EventTime
    channel: ImportChannel = Field(description="the channel it happened on")
    platform: str | None = Field(
        default=None, min_length=1, max_length=64, description="the emitting system (lower-cased)"
    )
    action: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="a canonical action of that channel (docs/channels.md); without one, "
        "`custom_event` (required unless `event` is given)",
    )
    event: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the source's own event name, kept as property `event` (stage rules "
        "and funnel steps match it with `event:`)",
    )
    user_id: RawId | None = Field(default=None, description="the brand's customer id")
    anonymous_id: str | None = Field(default=None, max_length=200, description="a cookie id")
    email: str | None = Field(default=None, max_length=320, description="hashed at ingest")
    phone: str | None = Field(default=None, max_length=64, description="hashed at ingest")
    loyalty_id: RawId | None = None
    device_id: str | None = Field(default=None, max_length=200)
    campaign: ImportCampaign | None = None
    revenue: SignedAmount | None = Field(default=None, description="negative for refunds")
    currency: Currency | None = None
    score: float | None = Field(default=None, description="a rating, NPS or CSAT answer")
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    page_url: str | None = Field(
        default=None, max_length=4096, description="kept without its query, but for utm_*"
    )
    user_agent: str | None = Field(
        default=None, max_length=1024, description="read for bot detection, never kept"
    )
    properties: dict[PropertyName, Scalar] = Field(
        default_factory=dict, max_length=30, description="kept as text, cut to 256 characters"
    )

    @model_validator(mode="after")
    def _check(self) -> ImportEvent:
        if self.action is None and self.event is None:
            raise ValueError("an action or an event is required")
        if not any(getattr(self, name) for name in IDENTIFIERS):
            raise ValueError("an identifier is required: " + ", ".join(IDENTIFIERS))
        if self.revenue is not None and self.currency is None:
            raise ValueError("currency is required with revenue")
        return self
