"""What every channel mapper gets, and small helpers they share.

A mapper is a pure function `(raw event model, MapContext) -> Touchpoint`. It raises
`ValueError` (or `InvalidPersonalData`) for an event it cannot map; the normaliser turns
that into a dead letter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel

from pipeline.ingest.pii import InvalidPersonalData, PiiHasher
from schemas.raw.common import Utm
from schemas.touchpoint import Campaign, Channel, Identities, RawRef, Touchpoint

RawEvent = TypeVar("RawEvent", bound=BaseModel)

#: The action of an imported row that names only its source's own event (kept as
#: property `event`): an action of every channel, which stage rules may name.
CUSTOM_EVENT = "custom_event"


@dataclass(frozen=True)
class MapContext:
    """Per-record context: where it came from, when it was read, how to hash PII."""

    hasher: PiiHasher
    received_at: datetime
    raw: RawRef
    is_bot: Callable[[str | None], bool]

    def email_hash(self, address: str | None) -> str | None:
        return None if not address else self.hasher.email(address)

    def phone_hash(self, number: str | None) -> str | None:
        return None if not number else self.hasher.phone(number)

    def touchpoint(self, **fields: Any) -> Touchpoint:
        """A Touchpoint with `received_at` and `raw` filled in."""
        return Touchpoint.checked(received_at=self.received_at, raw=self.raw, **fields)


@dataclass(frozen=True)
class ChannelSpec(Generic[RawEvent]):
    """A channel family: its raw contract, its mapper and the actions it can produce."""

    channel: Channel
    model: type[RawEvent]
    mapper: Callable[[RawEvent, MapContext], Touchpoint]
    actions: frozenset[str]


def hashed(field: str, hash_: Callable[[str | None], str | None], value: str | None) -> str | None:
    """`hash_(value)`; an unusable value fails naming `field` (never the value)."""
    try:
        return hash_(value)
    except InvalidPersonalData as error:
        raise InvalidPersonalData(f"{field}: {error}") from None


def utm_with_defaults(utm: Utm | None, **defaults: str | None) -> Utm:
    """`utm` with each unset parameter taken from `defaults` (keyed by Utm field name)."""
    given = {name: value for name, value in (utm or Utm()) if value}
    return Utm(**{**{name: value for name, value in defaults.items() if value}, **given})


def identities(**ids: str | None) -> Identities:
    """Identities with empty strings treated as absent."""
    return Identities(**{name: value or None for name, value in ids.items()})


def campaign(utm: Utm | None = None, **ids: str | None) -> Campaign | None:
    """A Campaign from UTM parameters and platform ids; None when nothing is known."""
    fields: dict[str, str | None] = dict(ids)
    if utm is not None:
        fields.update(
            source=utm.source, medium=utm.medium, name=utm.campaign, content=utm.content,
            term=utm.term,
        )  # fmt: skip
    present = {name: value for name, value in fields.items() if value}
    return Campaign(**present) if present else None


def utm_from_url(url: str | None) -> Utm | None:
    """The utm_* query parameters of a URL, if any."""
    if not url:
        return None
    query = parse_qs(urlsplit(url).query)
    found = {
        key.removeprefix("utm_"): values[0]
        for key, values in query.items()
        if key.startswith("utm_") and values
    }
    return Utm(**found) if found else None


def clean_url(url: str | None) -> str | None:
    """A URL without its query string and fragment, but with its utm_* parameters.

    Query strings carry emails, tokens and session ids often enough that none of them
    travels past the normaliser.
    """
    if not url:
        return None
    parts = urlsplit(url)
    utm = [
        (key, values[0])
        for key, values in parse_qs(parts.query).items()
        if key.startswith("utm_") and values
    ]
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path
    return base + ("?" + urlencode(utm) if utm else "")


def properties(**values: object) -> dict[str, str]:
    """A touchpoint's properties: set values only, as text."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in values.items()
        if value is not None and value != ""
    }


def money(amount: object, *, signed: bool = False) -> Decimal | None:
    """An amount of money as Decimal (text like "49.90" keeps its precision); negative
    only when `signed` (a refund)."""
    if amount is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, str | int | float | Decimal):
        raise ValueError(f"not an amount of money: a {type(amount).__name__}")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {amount!r}") from None
    if not value.is_finite():
        raise ValueError("an amount of money must be finite")
    if value < 0 and not signed:
        raise ValueError(f"a negative amount of money ({value}) where only a refund may have one")
    return value


def sentiment(score: float | None, worst: float, best: float) -> float | None:
    """A score on [worst, best] mapped onto [-1, +1]."""
    if score is None:
        return None
    if not worst <= score <= best:
        raise ValueError(f"score {score} is outside {worst}..{best}")
    return round((score - worst) / (best - worst) * 2 - 1, 4)
