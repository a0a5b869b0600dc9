"""Identity resolution (pure): links, merges, chains, limits, any order, any redelivery.

The `Network` below stands in for Kafka: it keeps the messages a step sends in a queue
and delivers them in order, shuffled, or twice, the way partitions and redeliveries can.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from pipeline.journeys.identity import anchor_key, identifier_keys
from pipeline.journeys.resolution import (
    LINK_MESSAGE,
    Chase,
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
        self.queue: list[Claim | Merge | Chase | Repoint] = []
        self.rng = random.Random(seed) if seed is not None else None
        self.dup = dup
        self.routed: dict[str, str] = {}  # event id -> customer id it was sent to
        self.engine: dict[str, str] = {}  # loser -> winner, as the engine was told
        self.links: list[IdentityLink] = []
        self.merges: dict[str, CustomerMerge] = {}
        self.violations: list[IdentityViolation] = []

    def _collect(self, out: Resolution) -> None:
        if out.touchpoint is not None:  # resolved here, directly or at the end of a chase
            assert out.customer_id is not None
            self.routed[out.touchpoint.event_id] = out.customer_id
        # Messages go over the wire as JSON, as in the worker.
        self.queue.extend(LINK_MESSAGE.validate_json(m.model_dump_json()) for m in out.messages)
        for merge in out.engine_merges:
            known = self.engine.setdefault(merge.loser.id, merge.winner.id)
            assert known == merge.winner.id, "a customer merged into two winners"
        self.links.extend(out.links)
        for row in out.merges:
            self.merges[row.loser_id] = row
        self.violations.extend(out.violations)

    def touch(self, *touchpoints: Touchpoint) -> None:
        for t in touchpoints:
            self._collect(self.resolver.on_touchpoint(t))
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
    assert identifier_keys(ids) == ["anon:a", "email:e", "user:u", "loyalty:l"]
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
    # The phone's first touchpoint carried two unknown identifiers: the chase ended at the
    # account, which named the customer.
    assert net.engine == {"user:ann-42": "anon:ck-a"}  # the older customer wins
    merge = net.merges["user:ann-42"]
    assert (merge.winner_id, merge.identifier) == ("anon:ck-a", "user:ann-42")
    for event in ("a1", "a2", "b1", "order"):
        assert net.journey_of(event) == "anon:ck-a"
    for key in ("anon:ck-a", "anon:ck-b", "email:ann", "user:ann-42"):
        assert net.owner(key) == "anon:ck-a"
    # The loser's root now points at the winner: its next touchpoints go there directly.
    net.touch(tp("b2", 1600, user_id="ann-42"))
    assert net.routed["b2"] == "anon:ck-a"
    # The cookie still names the loser until the engine forwards and repoints it.
    net.touch(tp("b3", 1601, anonymous_id="ck-b"))
    assert net.routed["b3"] == "user:ann-42" and net.journey_of("b3") == "anon:ck-a"


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
    net.drain()  # both unknown: chased to the email, which names the customer
    net.touch(tp("click", 20, email_hash="e-1"), tp("visit", 30, anonymous_id="ck-1"))
    net.drain()
    assert net.routed == {"popup": "email:e-1", "click": "email:e-1", "visit": "email:e-1"}
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
    before = {key: record.model_dump() for key, record in net.store.records.items()}
    for t in seed_touchpoints():  # everything again, as after a crash before a commit
        net.touch(t)
    net.drain()
    after = {key: record.model_dump() for key, record in net.store.records.items()}
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
    assert [m.kind for m in lost.messages] == ["merge"]
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
    bot = tp("bot", 0, anonymous_id="crawler", user_id="x").model_copy(update={"is_bot": True})
    net.touch(bot, tp("nobody", 1))
    net.drain()
    assert net.routed == {"bot": "anon:crawler", "nobody": "event:nobody"}
    assert net.store.records == {} and net.links == []


# ── the chase: an unknown anchor asks the touchpoint's other identifiers first ─────────


def test_unknown_anchor_with_a_known_identifier_resolves_there_without_a_merge() -> None:
    net = Network()
    net.touch(tp("login", 0, "signed_in", user_id="u-1"))
    net.drain()
    order = tp("order", 60, "order_placed", email_hash="new", user_id="u-1")
    out = net.resolver.on_touchpoint(order)  # anchored on the email, which nobody knows
    assert out.customer_id is None and out.links == [] and net.store.get("email:new") is None
    (chase,) = out.messages
    assert isinstance(chase, Chase)
    assert (chase.key, chase.rest, chase.touchpoint) == ("user:u-1", [], order)
    net.touch(order)
    net.drain()
    assert net.routed == {"login": "user:u-1", "order": "user:u-1"}
    assert net.merges == {} and net.engine == {}
    assert net.owner("email:new") == "user:u-1"
    assert [link.reason for link in net.links] == ["minted", "linked"]


def test_all_identifiers_unknown_mint_the_customer_at_the_last_one() -> None:
    net = Network()
    first = tp("first", 0, anonymous_id="ck", email_hash="e", user_id="u")
    out = net.resolver.on_touchpoint(first)
    (chase,) = out.messages
    assert isinstance(chase, Chase) and (chase.key, chase.rest) == ("email:e", ["user:u"])
    hop = net.resolver.on_message(chase)  # the email does not know it either: on to the user
    (last,) = hop.messages
    assert isinstance(last, Chase) and (last.key, last.rest) == ("user:u", [])
    assert hop.customer_id is None and net.store.records == {}
    net.touch(first)
    net.drain()
    assert net.routed == {"first": "user:u"}
    minted = [(link.identifier, link.customer_id) for link in net.links if link.reason == "minted"]
    assert minted == [("user:u", "user:u")]
    record = net.store.get("user:u")
    assert record is not None and record.root and record.customer.born == first.event_time
    for key in ("anon:ck", "email:e", "user:u"):
        assert net.owner(key) == "user:u"
    assert net.merges == {}


def shop_rows() -> list[Touchpoint]:
    """The replay fixture's first customer: the account on every row, the email on some."""
    both = {"user_id": "u-100", "email_hash": "ann"}
    return [
        tp("A-1", 0, "ad_impression", **both),
        tp("A-2", 1, "ad_click", **both),
        *(tp(f"A-{i}", i, user_id="u-100") for i in (3, 4, 5, 6)),
        tp("A-7", 12, "order_placed", **both),
    ]


def test_a_chase_and_a_touchpoint_anchored_at_its_end_name_the_same_customer() -> None:
    # A-3 reaches the account's partition before A-1's chase does.
    net = Network()
    a1, a3 = shop_rows()[0], shop_rows()[2]
    net.touch(a1)  # chased to user:u-100, still in flight
    net.touch(a3)  # anchored on user:u-100: unknown, and no other identifier: mints it
    net.drain()
    assert net.routed == {"A-1": "user:u-100", "A-3": "user:u-100"}
    assert net.merges == {} and net.engine == {}
    # The chase first: it names the customer, A-3 finds it.
    net = Network()
    net.touch(a1)
    net.drain()
    net.touch(a3)
    assert net.routed == {"A-1": "user:u-100", "A-3": "user:u-100"}
    assert net.merges == {}


@pytest.mark.parametrize("seed", range(30))
def test_the_shop_rows_in_any_order_are_one_customer_without_merges(seed: int) -> None:
    """All rows at once, messages shuffled and some delivered twice: one customer, the
    account, and no spurious customer merged afterwards."""
    rng = random.Random(seed)
    rows = shop_rows()
    rng.shuffle(rows)
    net = Network(seed=seed, dup=0.3)
    for row in rows:
        net.touch(row)
        if rng.random() < 0.3:
            net.drain()
    net.drain()
    assert set(net.routed) == {row.event_id for row in rows}
    assert set(net.routed.values()) == {"user:u-100"}
    assert net.merges == {} and net.engine == {}
    assert net.owner("email:ann") == "user:u-100"


def test_a_redelivered_chase_resolves_the_same_and_changes_nothing() -> None:
    net = Network()
    login = tp("login", 0, "signed_in", anonymous_id="ck", user_id="u")
    net.touch(login)
    net.drain()
    before = {key: record.model_dump() for key, record in net.store.records.items()}
    routed = dict(net.routed)
    # The touchpoint again (its anchor is known now) and its old chase message again.
    net.touch(login)
    net.queue.append(Chase(key="user:u", rest=[], touchpoint=login))
    net.drain()
    after = {key: record.model_dump() for key, record in net.store.records.items()}
    assert after == before and net.routed == routed == {"login": "user:u"}
    assert net.merges == {} and [link.reason for link in net.links] == ["minted", "linked"]


def test_the_identifier_that_resolves_a_chase_still_enforces_its_limit() -> None:
    net = Network(IdentityLimits({**IdentityLimits().per_type, "user_id": 1}))
    net.touch(tp("laptop", 0, "signed_in", anonymous_id="ck-1", user_id="u"))
    net.drain()
    assert net.owner("anon:ck-1") == "user:u"
    # A second cookie for the account: chased to the account, which is at its limit.
    net.touch(tp("phone", 10, "signed_in", anonymous_id="ck-2", user_id="u"))
    net.drain()
    assert net.routed["phone"] == "user:u"  # the touchpoint stays with the account
    assert net.store.get("anon:ck-2") is None  # the cookie was not linked
    (violation,) = net.violations
    assert (violation.identifier, violation.partner, violation.limit) == ("user:u", "anon:ck-2", 1)
    # A known anchor at its own limit refuses a second account, as before.
    net = Network(IdentityLimits({**IdentityLimits().per_type, "anonymous_id": 1}))
    net.touch(tp("ann", 0, "signed_in", anonymous_id="kiosk", user_id="ann"))
    net.drain()
    net.touch(tp("bob", 1, "signed_in", anonymous_id="kiosk", user_id="bob"))
    net.drain()
    assert net.routed == {"ann": "user:ann", "bob": "user:ann"}
    (violation,) = net.violations
    assert (violation.identifier, violation.partner) == ("anon:kiosk", "user:bob")
