"""Identifier keys: how each identifier a touchpoint carries is named, and which one anchors it.

An identifier key is the identifier's value with a prefix that keeps the spaces apart:
`anon:ck-1`, `device:idfa-7`, `email:<hash>`, `phone:<hash>`, `user:u-1042`,
`loyalty:L-55`. A customer id is the key of the identifier that first named the customer
(see pipeline.journeys.resolution), so a customer known only by `user:u-1042` is
`user:u-1042`.

The *anchor* is the key a touchpoint is partitioned by on its way to identity resolution:
the identifier most likely seen before, so that the common journey (anonymous first,
identified later) links new identifiers to a known customer instead of minting a second
customer and merging it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.touchpoint import Identities

#: Identifier fields and their key prefixes, in anchor order: devices and cookies are seen
#: first (an ad impression, a site visit); then the account id, which server-side systems
#: (orders, CRM exports, the help desk) put on every record while an email or phone is an
#: attribute that comes and goes; then the email a popup collects, the phone, and last the
#: loyalty card handed out after a purchase.
ANCHOR_ORDER: tuple[tuple[str, str], ...] = (
    ("device_id", "device"),
    ("anonymous_id", "anon"),
    ("user_id", "user"),
    ("email_hash", "email"),
    ("phone_hash", "phone"),
    ("loyalty_id", "loyalty"),
)

#: Key prefix -> identifier field.
FIELD_OF: dict[str, str] = {prefix: name for name, prefix in ANCHOR_ORDER}


def identifier_keys(identities: Identities) -> list[str]:
    """Every identifier on the touchpoint as a key, anchor first."""
    keys = []
    for name, prefix in ANCHOR_ORDER:
        value = getattr(identities, name)
        if value:
            keys.append(f"{prefix}:{value}")
    return keys


def anchor_key(identities: Identities) -> str | None:
    """The key the touchpoint is resolved under, None when it carries no identifier."""
    keys = identifier_keys(identities)
    return keys[0] if keys else None


def kind_of(key: str) -> str:
    """The identifier field a key belongs to: `email:ab12` -> `email_hash`."""
    return FIELD_OF[key.partition(":")[0]]


def unidentified_customer(event_id: str) -> str:
    """The customer id of a touchpoint without any identifier: a customer of its own."""
    return f"event:{event_id}"


#: Merge precedence of a customer id's identifier type: anchor order (an id of another
#: kind, e.g. an unidentified touchpoint's `event:`, comes last).
_PRECEDENCE: dict[str, int] = {prefix: i for i, (_, prefix) in enumerate(ANCHOR_ORDER)}


class CustomerRef(msgspec.Struct, frozen=True):
    """A customer: its id and when it was born (the event time of the touchpoint that
    named it). In a merge, the customer named by the identifier first in anchor order
    wins, then the smaller id: the winner of a group of customers is the same whatever
    order their touchpoints arrive in (docs/identity.md)."""

    id: str
    born: datetime

    def rank(self) -> tuple[int, str]:
        return (_PRECEDENCE.get(self.id.partition(":")[0], len(_PRECEDENCE)), self.id)


def merge_winner(a: CustomerRef, b: CustomerRef) -> CustomerRef:
    """The winner of a merge of `a` and `b`: the same whichever order they come in."""
    return a if a.rank() <= b.rank() else b
