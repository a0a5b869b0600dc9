"""Identity resolution (pure): links, merges, chains, limits, any order, any redelivery.

The `Network` below stands in for Kafka: it keeps the messages a step sends in a queue
and delivers them in order, shuffled, or twice, the way partitions and redeliveries can.
"""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec
import pytest

from pipeline.journeys import codec
from pipeline.journeys.identity import anchor_key, identifier_keys
from pipeline.journeys.pipeline import decode_envelope, encode_envelope
from pipeline.journeys.resolution import (
    Claim,
    DictIdentities,
    IdentityLimits,
    Merge,
    Repoint,
    Resolution,
    Resolver,
)
from schemas.outputs import CustomerMerge, IdentityLink, IdentityViolation
from schemas.touchpoint import Identities, Touchpoint
from tests.factories import touchpoint

pytestmark = pytest.mark.unit


def tp(event_id: str, minutes: float, action: str = "page_view", **ids: str) -> Touchpoint:
    return touchpoint(
        action, timedelta(minutes=minutes), event_id=event_id, identities=Identities(**ids)
    )


class Network:
    """Resolution steps with their messages delivered like Kafka might."""

    def __init__(
        self, limits: IdentityLimits | None = None, seed: int | None = None, dup: float = 0.0
    ) -> None:
        self.store = DictIdentities()
        self.resolver = Resolver(self.store, limits)
        self.queue: list[Claim | Merge | Repoint] = []
        self.rng = random.Random(seed) if seed is not None else None
        self.dup = dup
        self.routed: dict[str, str] = {}  # event id -> customer id it was sent to
        self.engine: dict[str, str] = {}  # loser -> winner, as the engine was told
        self.links: list[IdentityLink] = []
        self.merges: dict[str, CustomerMerge] = {}
        self.violations: list[IdentityViolation] = []

    def _collect(self, out: Resolution) -> None:
        # Messages go over the wire as JSON, as in the worker.
        self.queue.extend(decode_envelope(encode_envelope(list(out.messages))))  # type: ignore[arg-type]
        for merge in out.engine_merges:
            known = self.engine.setdefault(merge.loser.id, merge.winner.id)
            assert known == merge.winner.id, "a customer merged into two winners"
        self.links.extend(out.links)
        for row in out.merges:
            self.merges[row.loser_id] = row
        self.violations.extend(out.violations)

    def touch(self, *touchpoints: Touchpoint) -> None:
        for t in touchpoints:
            out = self.resolver.on_touchpoint(t)
            assert out.customer_id is not None
            self.routed[t.event_id] = out.customer_id
            self._collect(out)
            if self.rng is not None and self.rng.random() < self.dup:  # redelivered
                self._collect(self.resolver.on_touchpoint(t))

    def drain(self) -> None:
        while self.queue:
            index = self.rng.randrange(len(self.queue)) if self.rng else 0
            message = self.queue.pop(index)
            self._collect(self.resolver.on_message(message))
            if self.rng is not None and self.rng.random() < self.dup:
                self._collect(self.resolver.on_message(message))

    def final(self, customer: str) -> str:
        """Where the engine ends up keeping `customer`'s journey."""
        seen = []
        while customer in self.engine:
            assert customer not in seen, f"merge cycle {seen}"
            seen.append(customer)
            customer = self.engine[customer]
        return customer

    def journey_of(self, event_id: str) -> str:
        return self.final(self.routed[event_id])

    def owner(self, key: str) -> str:
        record = self.store.get(key)
        assert record is not None, key
        return self.final(record.customer.id)


def seed_touchpoints() -> list[Touchpoint]:
    """Anonymous on a phone and a laptop, a popup email, a login, an order, a store card."""
    return [
        tp("ig-impression", 0, "ad_impression", device_id="idfa-1"),
        tp("ig-click", 1, "ad_click", device_id="idfa-1"),
        tp("landing", 2, device_id="idfa-1", anonymous_id="ck-1"),
        tp("search", 100, "search_landing", anonymous_id="ck-1"),
        tp("popup", 110, "popup_submitted", anonymous_id="ck-1", email_hash="e-1"),
        tp("coupon", 200, "email_delivered", email_hash="e-1"),
        tp("newsletter", 300, "email_clicked", email_hash="e-1"),
        tp("site", 310, anonymous_id="ck-1"),
        tp("login", 320, "signed_in", anonymous_id="ck-1", user_id="u-1"),
        tp("order", 330, "order_placed", user_id="u-1", email_hash="e-1"),
        tp("loyalty", 340, "loyalty_signed_up", user_id="u-1", loyalty_id="L-1"),
        tp("store", 400, "store_visit", loyalty_id="L-1"),
    ]


def test_keys_and_anchor_prefer_what_is_seen_first() -> None:
    ids = Identities(user_id="u", email_hash="e", anonymous_id="a", loyalty_id="l")
    assert identifier_keys(ids) == ["anon:a", "user:u", "email:e", "loyalty:l"]
    assert anchor_key(Identities(user_id="u", device_id="d")) == "device:d"
    assert anchor_key(Identities()) is None


def test_anonymous_first_identified_later_is_one_customer_without_a_merge() -> None:
    net = Network()
    for t in seed_touchpoints():  # links settle between touchpoints, as days pass
        net.touch(t)
        net.drain()
    assert set(net.routed.values()) == {"device:idfa-1"}
    assert net.merges == {} and net.engine == {} and net.violations == []
    for key in ("device:idfa-1", "anon:ck-1", "email:e-1", "user:u-1", "loyalty:L-1"):
        assert net.owner(key) == "device:idfa-1"
    minted = [link.identifier for link in net.links if link.reason == "minted"]
    assert minted == ["device:idfa-1"]


def test_merge_of_two_known_customers() -> None:
    net = Network()
    # Ann on her laptop: anonymous, then an email at the popup.
    net.touch(tp("a1", 0, anonymous_id="ck-a"), tp("a2", 1, anonymous_id="ck-a", email_hash="ann"))
    net.drain()
    # The same Ann on her phone, a day later: an account, logged in.
    net.touch(tp("b1", 1440, anonymous_id="ck-b", user_id="ann-42"))
    net.drain()
    assert net.routed["a1"] != net.routed["b1"]
    # She orders with her account and the email: one person.
    net.touch(tp("order", 1500, "order_placed", user_id="ann-42", email_hash="ann"))
    net.drain()
    assert net.engine == {"anon:ck-b": "anon:ck-a"}  # the older customer wins
    merge = net.merges["anon:ck-b"]
    # The order is anchored on the account (Ann's phone's customer); its email is Ann's
    # laptop's: the link through the email merges them.
    assert (merge.winner_id, merge.identifier) == ("anon:ck-a", "email:ann")
    for event in ("a1", "a2", "b1", "order"):
        assert net.journey_of(event) == "anon:ck-a"
    for key in ("anon:ck-a", "anon:ck-b", "email:ann", "user:ann-42"):
        assert net.owner(key) == "anon:ck-a"
    # The loser's root now points at the winner: its next touchpoints go there directly.
    net.touch(tp("b2", 1600, anonymous_id="ck-b"))
    assert net.routed["b2"] == "anon:ck-a"


def test_link_arriving_after_the_touchpoints_it_connects() -> None:
    net = Network()
    # The email's clicks arrive before the popup that links the email to the cookie.
    net.touch(tp("visit", 0, anonymous_id="ck-1"), tp("click", 20, email_hash="e-1"))
    net.drain()
    assert net.routed["click"] == "email:e-1"  # not known yet: a customer of its own
    net.touch(tp("popup", 10, "popup_submitted", anonymous_id="ck-1", email_hash="e-1"))
    net.drain()
    assert net.journey_of("click") == net.journey_of("visit") == "anon:ck-1"
    assert net.engine == {"email:e-1": "anon:ck-1"}


def test_link_arriving_before_the_touchpoints_it_connects() -> None:
    net = Network()
    net.touch(tp("popup", 10, "popup_submitted", anonymous_id="ck-1", email_hash="e-1"))
    net.drain()
    net.touch(tp("click", 20, email_hash="e-1"), tp("visit", 30, anonymous_id="ck-1"))
    net.drain()
    assert net.routed == {"popup": "anon:ck-1", "click": "anon:ck-1", "visit": "anon:ck-1"}
    assert net.engine == {}


def test_merge_chain_converges_on_the_oldest_customer() -> None:
    net = Network()
    net.touch(tp("a", 0, anonymous_id="a"), tp("b", 10, anonymous_id="b"))
    net.touch(tp("c", 20, anonymous_id="c"))
    net.drain()
    net.touch(tp("bc", 30, anonymous_id="c", email_hash="b-mail"))
    net.touch(tp("bc2", 31, anonymous_id="b", email_hash="b-mail"))  # b and c are one
    net.drain()
    assert net.final("anon:c") == "anon:b"
    net.touch(tp("ab", 40, anonymous_id="b", user_id="u-a"))
    net.touch(tp("ab2", 41, anonymous_id="a", user_id="u-a"))  # a and b are one
    net.drain()
    for event in ("a", "b", "c", "bc", "bc2", "ab", "ab2"):
        assert net.journey_of(event) == "anon:a"


@pytest.mark.parametrize("seed", range(40))
def test_any_delivery_order_and_redelivery_converge(seed: int) -> None:
    """Touchpoints and messages in random order, a third of them twice: one customer, the
    oldest, with every identifier; every merge recorded once per loser."""
    rng = random.Random(seed)
    touchpoints = seed_touchpoints()
    rng.shuffle(touchpoints)
    net = Network(seed=seed, dup=0.3)
    for t in touchpoints:
        net.touch(t)
        if rng.random() < 0.3:
            net.drain()
    net.drain()
    journeys = {net.journey_of(t.event_id) for t in touchpoints}
    assert len(journeys) == 1
    (winner,) = journeys
    born = {link.customer_id: link.event_time for link in net.links if link.reason == "minted"}
    assert winner == min(born, key=lambda c: (born[c], c))
    keys = {key for t in touchpoints for key in identifier_keys(t.identities)}
    assert {net.owner(key) for key in keys} == {winner}
    assert set(net.merges) == set(net.engine) == set(born) - {winner}


def test_redelivered_steps_change_nothing() -> None:
    net = Network()
    for t in seed_touchpoints():
        net.touch(t)
        net.drain()
    before = {key: codec.encode(record) for key, record in net.store.records.items()}
    for t in seed_touchpoints():  # everything again, as after a crash before a commit
        net.touch(t)
    net.drain()
    after = {key: codec.encode(record) for key, record in net.store.records.items()}
    assert after == before and net.engine == {}


def test_redelivery_in_the_middle_of_merges_keeps_the_outcome() -> None:
    net = Network()
    for t in seed_touchpoints():  # all at once: links race the touchpoints, merges follow
        net.touch(t)
    net.drain()
    engine, merges = dict(net.engine), set(net.merges)
    owners = {key: net.owner(key) for key in net.store.records}
    for t in seed_touchpoints():
        net.touch(t)
    net.drain()
    assert net.engine == engine and set(net.merges) == merges
    assert {key: net.owner(key) for key in net.store.records} == owners
    assert set(owners.values()) == {"device:idfa-1"}


def test_a_merge_lost_in_a_crash_is_sent_again_on_redelivery() -> None:
    net = Network()
    net.touch(tp("a", 0, anonymous_id="a"), tp("b", 10, user_id="b"))
    net.drain()
    order = tp("ab", 20, anonymous_id="a", user_id="b")
    net.touch(order)
    (claim,) = net.queue
    lost = net.resolver.on_message(net.queue.pop())
    assert [type(m) for m in lost.messages] == [Merge]
    # The crash: the record's change was stored, the merge never sent.
    assert net.engine == {}
    net.touch(order)  # redelivered: claims again, and the claim announces the merge again
    net.drain()
    assert net.engine == {"user:b": "anon:a"}
    assert claim.key == "user:b"


def test_shared_device_hits_the_limit_and_is_recorded() -> None:
    net = Network(IdentityLimits({**IdentityLimits().per_type, "anonymous_id": 1}))
    net.touch(tp("kiosk", 0, anonymous_id="kiosk"))
    net.touch(tp("ann", 1, "signed_in", anonymous_id="kiosk", user_id="ann"))
    net.drain()
    net.touch(tp("bob", 2, "signed_in", anonymous_id="kiosk", user_id="bob"))
    net.drain()
    assert net.owner("user:ann") == "anon:kiosk"
    assert net.store.get("user:bob") is None  # bob was not pulled into ann's customer
    (violation,) = net.violations
    assert (violation.identifier, violation.partner, violation.limit) == (
        "anon:kiosk",
        "user:bob",
        1,
    )
    assert violation.customer_id == "anon:kiosk"


def test_typo_email_cannot_collapse_many_customers() -> None:
    limits = IdentityLimits({**IdentityLimits().per_type, "email_hash": 3})
    net = Network(limits)
    for i in range(10):
        net.touch(tp(f"v{i}", i, anonymous_id=f"ck-{i}"))
    net.drain()
    for i in range(10):
        popup = tp(f"p{i}", 100 + i, "popup_submitted", anonymous_id=f"ck-{i}", email_hash="typo")
        net.touch(popup)
    net.drain()
    journeys = {net.journey_of(f"v{i}") for i in range(10)}
    assert journeys == {"anon:ck-0"} | {f"anon:ck-{i}" for i in range(3, 10)}
    assert len(net.merges) == 2  # ck-1 and ck-2 joined ck-0, then the email was full
    refused = sorted(v.partner for v in net.violations)
    assert refused == [f"anon:ck-{i}" for i in range(3, 10)]
    assert {v.identifier for v in net.violations} == {"email:typo"}


def test_bots_and_touchpoints_without_identifiers_link_nothing() -> None:
    net = Network()
    bot = msgspec.structs.replace(tp("bot", 0, anonymous_id="crawler", user_id="x"), is_bot=True)
    net.touch(bot, tp("nobody", 1))
    net.drain()
    assert net.routed == {"bot": "anon:crawler", "nobody": "event:nobody"}
    assert net.store.records == {} and net.links == []
