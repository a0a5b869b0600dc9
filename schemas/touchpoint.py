"""The canonical touchpoint: one customer interaction, whatever channel it came from.

Normalisers turn every raw channel event into this shape; everything downstream (identity,
journeys, counts, ClickHouse) reads only this. It carries no raw personal data: emails
and phone numbers arrive here as keyed hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec

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


class Identities(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Every identifier the event carried; personal ones only as keyed hashes."""

    anonymous_id: str | None = None  # cookie or anonymous visitor id
    user_id: str | None = None  # the brand's customer/account id
    email_hash: str | None = None  # HMAC-SHA256 of the normalised address
    phone_hash: str | None = None  # HMAC-SHA256 of the E.164 number
    loyalty_id: str | None = None  # loyalty card / member id
    device_id: str | None = None  # mobile advertising id or push device token id

    def present(self) -> dict[str, str]:
        """The identifiers that are set, by name."""
        found = ((name, getattr(self, name)) for name in self.__struct_fields__)
        return {name: value for name, value in found if value is not None}


class Campaign(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a touchpoint came from, in UTM terms plus platform ids."""

    source: str | None = None  # utm_source, e.g. instagram, google, newsletter
    medium: str | None = None  # utm_medium, e.g. paid_social, cpc, email
    name: str | None = None  # utm_campaign
    content: str | None = None  # utm_content
    term: str | None = None  # utm_term
    campaign_id: str | None = None  # the platform's campaign id
    ad_group_id: str | None = None  # ad set / ad group id
    ad_id: str | None = None


class RawRef(msgspec.Struct, frozen=True):
    """Where the raw record sits in Kafka, for tracing a touchpoint back."""

    topic: str
    partition: int
    offset: int


#: A timezone-aware instant (normalised to UTC when a touchpoint is built).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Touchpoint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One interaction of one (possibly still anonymous) person with the brand.

    A msgspec struct: the normaliser builds it with `checked` (types and constraints
    enforced); trusted code builds it directly. Either way the times become UTC and
    property values are cut to `MAX_PROPERTY_VALUE`.
    """

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    event_time: AwareDatetime  # when it happened, by the channel's clock
    received_at: AwareDatetime  # when the pipeline read it
    channel: Channel
    platform: str  # the emitting system: instagram, website, sendgrid, shopify, pos, ...
    action: str  # canonical action, e.g. ad_click, product_view, order_placed
    identities: Identities
    campaign: Campaign | None = None
    revenue: Decimal | None = None  # positive for orders, negative for refunds
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] | None = None
    score: float | None = None  # a rating, NPS or CSAT answer as given
    sentiment: Annotated[float, msgspec.Meta(ge=-1, le=1)] | None = None  # -1 .. +1
    is_bot: bool = False  # flagged crawler/bot traffic: stored, kept out of journeys
    properties: Annotated[dict[str, str], msgspec.Meta(max_length=MAX_PROPERTIES)] = {}
    raw: RawRef

    def __post_init__(self) -> None:
        for name in ("event_time", "received_at"):
            value = getattr(self, name)
            if value.tzinfo is UTC:
                continue
            if value.utcoffset() is None:
                raise ValueError(f"{name}: a time without a timezone")
            msgspec.structs.force_setattr(self, name, value.astimezone(UTC))
        if any(len(value) > MAX_PROPERTY_VALUE for value in self.properties.values()):
            cut = {key: value[:MAX_PROPERTY_VALUE] for key, value in self.properties.items()}
            msgspec.structs.force_setattr(self, "properties", cut)

    @classmethod
    def checked(cls, **fields: Any) -> Touchpoint:
        """A touchpoint from untrusted fields: every type and constraint checked
        (`msgspec.ValidationError`, a ValueError, names the field)."""
        return msgspec.convert(fields, cls)
