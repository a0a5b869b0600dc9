"""Identity resolution: which customer each touchpoint belongs to, across partitions.

State is one `IdentifierRecord` per identifier key, partitioned by that key (the Faust
table `identities`; a dict in tests). Nothing here touches Kafka: every step takes one
input and returns a `Resolution` saying where the touchpoint goes and which messages to
send, each keyed by the identifier (or customer) whose partition must handle it.

    Touchpoint (keyed by its anchor)   -> customer id, claims for its other identifiers
    Claim      (keyed by the claimed)  -> link | merge request to the losing customer
    Merge      (keyed by the loser)    -> engine merge (loser's journey -> winner) | chain
    Repoint    (keyed by an identifier)-> the identifier catches up with a merge

The rules (docs/identity.md has the reasoning):

- An unknown anchor names a new customer: the customer id is the anchor's key and never
  changes. The anchor's record is the customer's *root* record.
- Every other identifier on the touchpoint is claimed for the anchor's customer. An
  unclaimed identifier joins it (a link). One owned by another customer means the two
  are one: the customer whose id is of the type first in anchor order (then the smaller
  id) wins, the claimed identifier points to the winner, and a Merge goes to the loser's
  root.
- A root merges once (`merged_into` is set once, to a customer ranked before it). A
  second Merge for it chains the two winners into a Merge of their own, with an ever
  higher-ranked loser, so any arrival order converges on one winner per connected group,
  and on the same one (its first-ranked identifier always names a customer).
- Guard rails: an identifier of type T is linked to at most `limits[T]` identifiers of
  any one other type; a link beyond it is refused on either end and recorded.
- Every step is idempotent: redelivered inputs re-send the same messages, which their
  receivers ignore when already applied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import msgspec

from pipeline.journeys.identity import (
    CustomerRef,
    identifier_keys,
    kind_of,
    merge_winner,
    unidentified_customer,
)
from schemas.outputs import CustomerMerge, IdentityLink, IdentityLinkReason, IdentityViolation
from schemas.touchpoint import Touchpoint


class Cause(msgspec.Struct, frozen=True):
    """The touchpoint behind a message, carried along for the records it leads to."""

    event_id: str
    event_time: datetime


class Claim(msgspec.Struct, frozen=True, tag="c"):
    """`key` belongs to `customer`: it was seen with `via`, which belongs to `customer`."""

    key: str
    customer: CustomerRef
    via: str
    cause: Cause


class Merge(msgspec.Struct, frozen=True, tag="m"):
    """Customer `loser` is customer `winner` (keyed by the loser: its root handles it)."""

    loser: CustomerRef
    winner: CustomerRef
    identifier: str  # where the two met
    via: str
    cause: Cause

    @property
    def key(self) -> str:
        return self.loser.id


class Repoint(msgspec.Struct, frozen=True, tag="p"):
    """`key` pointed to `old`, which has merged into `new`: follow it (path compression)."""

    key: str
    old: str
    new: CustomerRef
    cause: Cause


LinkMessage = Claim | Merge | Repoint


class EngineMerge(msgspec.Struct, frozen=True, tag="em"):
    """For the journey engine (keyed by the loser): move the loser's journey to the winner."""

    loser: CustomerRef
    winner: CustomerRef


class IdentifierRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What resolution knows about one identifier."""

    key: str
    customer: CustomerRef  # where its touchpoints go (may lag a merge; the engine forwards)
    version: int = 1  # grows with every change of `customer`
    root: bool = False  # this identifier named a customer: its id is this key
    merged_into: CustomerRef | None = None  # roots only: set once, by the first merge
    partners: dict[str, list[str]] = {}  # linked keys, by type
    displaced: list[CustomerRef] = []  # losers of merges met here


class IdentityStore(Protocol):
    """Where identifier records live."""

    def get(self, key: str) -> IdentifierRecord | None: ...
    def put(self, record: IdentifierRecord) -> None: ...


class DictIdentities:
    """An IdentityStore in a dict (tests, replays)."""

    def __init__(self) -> None:
        self.records: dict[str, IdentifierRecord] = {}

    def get(self, key: str) -> IdentifierRecord | None:
        return self.records.get(key)

    def put(self, record: IdentifierRecord) -> None:
        self.records[record.key] = copy.deepcopy(record)


@dataclass(frozen=True)
class IdentityLimits:
    """Most identifiers of any one other type an identifier of each type is linked to."""

    per_type: Mapping[str, int] = field(
        default_factory=lambda: {
            "device_id": 5,
            "anonymous_id": 5,
            "email_hash": 50,
            "phone_hash": 20,
            "user_id": 100,
            "loyalty_id": 20,
        }
    )

    def of(self, key: str) -> int:
        return self.per_type[kind_of(key)]


@dataclass
class Resolution:
    """What one step decided."""

    customer_id: str | None = None  # touchpoints only: the customer it goes to
    messages: list[Claim | Merge | Repoint] = field(default_factory=list)  # by their .key
    engine_merges: list[EngineMerge] = field(default_factory=list)  # by loser id
    links: list[IdentityLink] = field(default_factory=list)
    merges: list[CustomerMerge] = field(default_factory=list)
    violations: list[IdentityViolation] = field(default_factory=list)


class Resolver:
    """The resolution steps over one store (one or many partitions' records)."""

    def __init__(self, store: IdentityStore, limits: IdentityLimits | None = None) -> None:
        self.store = store
        self.limits = limits or IdentityLimits()

    # Touchpoint (by anchor) -> customer id + claims
    def on_touchpoint(self, touchpoint: Touchpoint) -> Resolution:
        out = Resolution()
        keys = identifier_keys(touchpoint.identities)
        if not keys:
            out.customer_id = unidentified_customer(touchpoint.event_id)
            return out
        anchor, partners = keys[0], keys[1:]
        cause = Cause(event_id=touchpoint.event_id, event_time=touchpoint.event_time)
        record = self.store.get(anchor)
        if touchpoint.is_bot:  # crawlers never name customers nor link identifiers
            out.customer_id = record.customer.id if record else anchor
            return out
        changed = False
        if record is None:
            born = CustomerRef(id=anchor, born=touchpoint.event_time)
            record = IdentifierRecord(key=anchor, customer=born, root=True)
            out.links.append(_link(record, "minted", None, cause))
            changed = True
        for partner in partners:
            added = self._admit(record, partner, record.customer.id, cause, out)
            if added is None:
                continue  # refused: recorded as a violation
            changed = changed or added
            # Claimed again on every touchpoint: a lost claim (crash before it was sent)
            # is sent again when the touchpoint is redelivered; receivers ignore repeats.
            out.messages.append(
                Claim(key=partner, customer=record.customer, via=anchor, cause=cause)
            )
        if changed:
            self.store.put(record)
        out.customer_id = record.customer.id
        return out

    def on_message(self, message: Claim | Merge | Repoint) -> Resolution:
        if isinstance(message, Claim):
            return self.on_claim(message)
        if isinstance(message, Merge):
            return self.on_merge(message)
        return self.on_repoint(message)

    # Claim (by the claimed identifier) -> link | merge request
    def on_claim(self, claim: Claim) -> Resolution:
        out = Resolution()
        record = self.store.get(claim.key)
        if record is None:
            record = IdentifierRecord(key=claim.key, customer=claim.customer)
            record.partners[kind_of(claim.via)] = [claim.via]
            out.links.append(_link(record, "linked", claim.via, claim.cause))
            self.store.put(record)
            return out
        added = self._admit(record, claim.via, claim.customer.id, claim.cause, out)
        if added is None:
            return out
        current = record.customer
        if current.id == claim.customer.id:
            if added:
                self.store.put(record)
            # A merge decided here may have been lost in a crash: announce it again.
            out.messages.extend(
                _merge(loser, record.customer, record.key, claim.via, claim.cause)
                for loser in record.displaced
            )
            return out
        winner = merge_winner(current, claim.customer)
        loser = claim.customer if winner == current else current
        if winner != current:
            record.customer = winner
            record.version += 1
            out.links.append(_link(record, "merged", claim.via, claim.cause))
        if loser not in record.displaced:
            record.displaced.append(loser)
        self.store.put(record)
        out.messages.append(_merge(loser, winner, record.key, claim.via, claim.cause))
        return out

    # Merge (by the loser's root) -> engine merge, or a merge of the two winners
    def on_merge(self, merge: Merge) -> Resolution:
        out = Resolution()
        loser, winner = merge.loser, merge.winner
        record = self.store.get(loser.id) or IdentifierRecord(
            key=loser.id, customer=loser, root=True
        )
        if record.merged_into is None:
            record.merged_into = winner
        first = record.merged_into
        # Sent again on every delivery: each is idempotent where it lands.
        out.engine_merges.append(EngineMerge(loser=loser, winner=first))
        out.merges.append(
            CustomerMerge(
                loser_id=loser.id,
                winner_id=first.id,
                loser_born=loser.born,
                winner_born=first.born,
                identifier=merge.identifier,
                via=merge.via,
                event_id=merge.cause.event_id,
                event_time=merge.cause.event_time,
            )
        )
        if first != winner:  # two winners for one loser: they are one customer too
            best = merge_winner(first, winner)
            other = winner if best == first else first
            out.messages.append(_merge(other, best, merge.identifier, merge.via, merge.cause))
            winner = best
        if merge_winner(record.customer, winner) != record.customer:
            record.customer = winner
            record.version += 1
            out.links.append(_link(record, "merged", merge.via, merge.cause))
        self.store.put(record)
        return out

    # Repoint (by an identifier) -> the identifier follows its customer's merge
    def on_repoint(self, repoint: Repoint) -> Resolution:
        out = Resolution()
        record = self.store.get(repoint.key)
        if record is None or record.customer.id != repoint.old:
            return out
        if merge_winner(record.customer, repoint.new) == record.customer:
            return out
        record.customer = repoint.new
        record.version += 1
        out.links.append(_link(record, "repointed", None, repoint.cause))
        self.store.put(record)
        return out

    def _admit(
        self, record: IdentifierRecord, partner: str, customer_id: str, cause: Cause,
        out: Resolution,
    ) -> bool | None:  # fmt: skip
        """Note `partner` as linked to `record`: True if new, False if known, None if the
        record's limit refuses it (a violation is recorded)."""
        kind = kind_of(partner)
        known = record.partners.setdefault(kind, [])
        if partner in known:
            return False
        limit = self.limits.of(record.key)
        if len(known) >= limit:
            out.violations.append(
                IdentityViolation(
                    identifier=record.key,
                    identifier_type=kind_of(record.key),
                    partner=partner,
                    partner_type=kind,
                    customer_id=customer_id,
                    limit=limit,
                    event_id=cause.event_id,
                    event_time=cause.event_time,
                )
            )
            return None
        known.append(partner)
        return True


def _merge(
    loser: CustomerRef, winner: CustomerRef, identifier: str, via: str, cause: Cause
) -> Merge:
    return Merge(loser=loser, winner=winner, identifier=identifier, via=via, cause=cause)


def _link(
    record: IdentifierRecord, reason: IdentityLinkReason, via: str | None, cause: Cause
) -> IdentityLink:
    return IdentityLink(
        identifier=record.key,
        identifier_type=kind_of(record.key),
        customer_id=record.customer.id,
        version=record.version,
        reason=reason,
        via=via,
        event_id=cause.event_id,
        event_time=cause.event_time,
    )
