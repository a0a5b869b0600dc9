"""The canonical touchpoint: one customer interaction, whatever channel it came from.

Normalisers turn every raw channel event into this shape; everything downstream (identity,
journeys, counts, ClickHouse) reads only this. It carries no raw personal data: emails
and phone numbers arrive here as keyed hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

#: Upper bounds that keep a touchpoint small on the wire and in state.
MAX_PROPERTIES = 32
MAX_PROPERTY_VALUE = 256


class Channel(StrEnum):
    """Channel families; each has its raw topic `touchpoints.raw.<channel>`."""

    ADS = "ads"
    SEARCH = "search"
    WEB = "web"
    CHAT = "chat"
    POPUP = "popup"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    VIDEO = "video"
    COMMERCE = "commerce"
    LOYALTY = "loyalty"
    STORE = "store"
    SUPPORT = "support"
    FEEDBACK = "feedback"
    # Rows replayed from files (`journeys replay`). Only a raw family: the touchpoint
    # takes the channel the row names, so no touchpoint carries `import`.
    IMPORT = "import"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: A timezone-aware instant, normalised to UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Identities(BaseModel):
    """Every identifier the event carried; personal ones only as keyed hashes."""

    model_config = _FROZEN

    anonymous_id: str | None = None  # cookie or anonymous visitor id
    user_id: str | None = None  # the brand's customer/account id
    email_hash: str | None = None  # HMAC-SHA256 of the normalised address
    phone_hash: str | None = None  # HMAC-SHA256 of the E.164 number
    loyalty_id: str | None = None  # loyalty card / member id
    device_id: str | None = None  # mobile advertising id or push device token id

    def present(self) -> dict[str, str]:
        """The identifiers that are set, by name."""
        return {name: value for name, value in self if value is not None}


class Campaign(BaseModel):
    """Where a touchpoint came from, in UTM terms plus platform ids."""

    model_config = _FROZEN

    source: str | None = None  # utm_source, e.g. instagram, google, newsletter
    medium: str | None = None  # utm_medium, e.g. paid_social, cpc, email
    name: str | None = None  # utm_campaign
    content: str | None = None  # utm_content
    term: str | None = None  # utm_term
    campaign_id: str | None = None  # the platform's campaign id
    ad_group_id: str | None = None  # ad set / ad group id
    ad_id: str | None = None


class RawRef(BaseModel):
    """Where the raw record sits in Kafka, for tracing a touchpoint back."""

    model_config = _FROZEN

    topic: str
    partition: int
    offset: int


def _bounded(properties: dict[str, str]) -> dict[str, str]:
    if len(properties) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties")
    return {key: value[:MAX_PROPERTY_VALUE] for key, value in properties.items()}


class Touchpoint(BaseModel):
    """One interaction of one (possibly still anonymous) person with the brand."""

    model_config = _FROZEN

    event_id: str = Field(min_length=1, max_length=200)
    event_time: UtcDatetime  # when it happened, by the channel's clock
    received_at: UtcDatetime  # when the pipeline read it
    channel: Channel
    platform: str  # the emitting system: instagram, website, sendgrid, shopify, pos, ...
    action: str  # canonical action, e.g. ad_click, product_view, order_placed
    identities: Identities
    campaign: Campaign | None = None
    revenue: Decimal | None = None  # positive for orders, negative for refunds
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    score: float | None = None  # a rating, NPS or CSAT answer as given
    sentiment: float | None = Field(default=None, ge=-1, le=1)  # -1 negative .. +1 positive
    is_bot: bool = False  # flagged crawler/bot traffic: stored, kept out of journeys
    properties: Annotated[dict[str, str], AfterValidator(_bounded)] = Field(default_factory=dict)
    raw: RawRef
