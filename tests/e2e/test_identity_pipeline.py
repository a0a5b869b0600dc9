"""Identity stitching through the real pipeline (real broker, worker process, ClickHouse).

- The seed journey with the identifiers channels really have (a phone's ad id, a cookie,
  an email, an account, a loyalty card) is one customer with one journey.
- Sent all at once, its links race its touchpoints: customers are named too early and
  merged afterwards; the journey converges all the same.
- Two customers known separately turn out to be one: merged, recorded, counted once; a
  worker that crashes between the merge message and the absorption of the loser's
  journey gives the same result as an uninterrupted run.
- A shared device at its limit: the link is refused and recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipeline.journeys.identity import anchor_key, identifier_keys
from pipeline.sink import rows
from schemas.touchpoint import Identities, Touchpoint
from tests.e2e.test_seed_journey_pipeline import FAST_IDLE, expect_seed_result, when
from tests.factories import touchpoint
from tests.seed_journey import (
    COOKIE,
    EMAIL,
    EXPECTED_FIRST_REACHED,
    IDENTIFIED_CUSTOMER,
    IDENTIFIER_KEYS,
    LOYALTY,
    seed_journey_identified,
)
from tests.support import WorkerProcess, send_touchpoints, wait_until

pytestmark = pytest.mark.e2e


def send(kafka: str, prefix: str, touchpoints: Iterable[Touchpoint]) -> None:
    """Canonical touchpoints, keyed by their anchor as channel systems key them."""
    send_touchpoints(kafka, prefix, touchpoints)


def identifiers_linked(worker: WorkerProcess, n: int) -> bool:
    """Whether ClickHouse holds links for at least `n` identifiers."""
    found = worker.query("SELECT uniqExact(identifier) AS n FROM identity_links")
    return int(found[0]["n"]) >= n


def test_seed_journey_with_real_identifiers_is_one_customer(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    """Links settle before the next touchpoint (days pass between them in real life): one
    customer, named by the phone's ad id, with exactly the single-id seed journey."""
    # Event time moves on only after 15 idle seconds, when everything has been sent.
    worker = worker_factory(JOURNEYS_SESSIONS_IDLE_AFTER="15", JOURNEYS_SESSIONS_IDLE_RATE="86400")
    prefix = f"t{unique}."
    known: set[str] = set()
    for t in seed_journey_identified():
        known |= set(identifier_keys(t.identities))
        send(kafka_bootstrap, prefix, [t])
        # A new identifier names the customer or joins it: wait for that link.
        expected = len(known)
        wait_until(lambda n=expected: identifiers_linked(worker, n), 60, f"links of {t.event_id}")
    expect_seed_result(worker, IDENTIFIED_CUSTOMER)
    identities = worker.query("SELECT identifier, customer_id FROM v_identities")
    assert {(r["identifier"], r["customer_id"]) for r in identities} == {
        (key, IDENTIFIED_CUSTOMER) for key in IDENTIFIER_KEYS
    }
    assert worker.query("SELECT count() AS n FROM customer_merges") == [{"n": 0}]
    assert worker.query("SELECT customer_id FROM v_journeys") == [
        {"customer_id": IDENTIFIED_CUSTOMER}
    ]


def test_seed_journey_with_links_after_its_touchpoints_converges(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    """The touchpoints that link identifiers come last: until then the phone, the cookie,
    the email and the card are customers of their own, with journeys of their own. The
    links merge them into the first-ranked (the device: first in anchor order); one
    journey remains, every touchpoint counted once, with the right stage times."""
    worker = worker_factory(**FAST_IDLE)
    prefix = f"t{unique}."
    events = seed_journey_identified()
    single = [t for t in events if len(t.identities.present()) == 1]
    linking = [t for t in events if len(t.identities.present()) > 1]
    send(kafka_bootstrap, prefix, single)
    minted = len({anchor_key(t.identities) for t in single})
    wait_until(lambda: identifiers_linked(worker, minted), 60, "the unlinked touchpoints resolved")
    wait_until(
        lambda: (
            worker.query(
                f"SELECT count() AS n FROM touchpoints FINAL WHERE _version = {rows.FINAL}"
            )[0]["n"]
            == len(single)
        ),
        120,
        "the unlinked touchpoints stored (final) under their own customers",
    )
    send(kafka_bootstrap, prefix, linking)

    def converged() -> Any:
        journeys = worker.query(
            "SELECT customer_id, stage, touchpoints, purchases, revenue, first_reached "
            "FROM v_journeys"
        )
        ids = worker.query("SELECT uniqExact(customer_id) AS n FROM v_identities")
        done = len(journeys) == 1 and journeys[0]["touchpoints"] == 24 and ids == [{"n": 1}]
        return journeys if done else None

    (journey,) = wait_until(converged, 120, "one journey with all 24 touchpoints")
    assert journey["customer_id"] == IDENTIFIED_CUSTOMER  # the first-ranked customer wins
    assert journey["stage"] == "advocacy"
    assert (journey["purchases"], Decimal(journey["revenue"])) == (2, Decimal("174"))
    assert {k: when(v) for k, v in journey["first_reached"].items()} == EXPECTED_FIRST_REACHED
    touchpoints = worker.query(
        "SELECT uniqExact(event_id) AS ids, count() AS n, uniqExact(customer_id) AS customers "
        "FROM v_touchpoints"
    )
    assert touchpoints == [{"ids": 24, "n": 24, "customers": 1}]
    merges = worker.query("SELECT loser_id FROM customer_merges FINAL")
    losers = {m["loser_id"] for m in merges}
    assert {f"anon:{COOKIE}", f"email:{EMAIL}", f"loyalty:{LOYALTY}"} <= losers
    assert IDENTIFIED_CUSTOMER not in losers
    stored = worker.query("SELECT uniqExact(customer_id) AS n FROM touchpoints FINAL")
    assert stored[0]["n"] > 1  # the facts keep the ids they were written with


# ── two known customers merge ───────────────────────────────────────────────────────

T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def tp(event_id: str, day: int, minute: int, action: str, **ids: str) -> Touchpoint:
    revenue = "80" if action == "order_placed" else None
    at = T + timedelta(days=day, minutes=minute)
    return touchpoint(action, at, event_id=event_id, revenue=revenue, identities=Identities(**ids))


#: Ann on her laptop in March; on her phone, with her account, in April; both known
#: separately. Her order in May carries the account and the email: one person.
LAPTOP = [
    tp("a-visit", 0, 0, "page_view", anonymous_id="ck-laptop"),
    tp("a-product", 0, 5, "product_view", anonymous_id="ck-laptop"),
    tp("a-popup", 0, 10, "popup_submitted", anonymous_id="ck-laptop", email_hash="ann"),
]
PHONE = [
    tp("b-visit", 31, 0, "page_view", anonymous_id="ck-phone"),
    tp("b-login", 31, 5, "signed_in", anonymous_id="ck-phone", user_id="ann-42"),
    tp("b-cart", 31, 10, "add_to_cart", anonymous_id="ck-phone", user_id="ann-42"),
]
ORDER = [tp("order", 61, 0, "order_placed", user_id="ann-42", email_hash="ann")]
AFTER = [tp("c-visit", 92, 0, "page_view", anonymous_id="ck-phone")]
#: Two cookies: the same type, so the smaller id wins (docs/identity.md).
WINNER, LOSER = "anon:ck-laptop", "anon:ck-phone"


def known_separately(worker: WorkerProcess, kafka: str, prefix: str) -> None:
    """Send the laptop and the phone phases; wait until both journeys are stored."""
    send(kafka, prefix, LAPTOP)
    wait_until(
        lambda: worker.query(f"SELECT sessions FROM v_journeys WHERE customer_id = '{WINNER}'"),
        60,
        "the laptop's journey",
    )
    send(kafka, prefix, PHONE)
    wait_until(
        lambda: (
            worker.query("SELECT count() AS n FROM v_journeys") == [{"n": 2}]
            and worker.query(f"SELECT touchpoints FROM v_journeys WHERE customer_id = '{LOSER}'")
            == [{"touchpoints": 3}]
        ),
        60,
        "the phone's journey, separately",
    )


def merged_result(worker: WorkerProcess) -> dict[str, Any]:
    """What analysts see once the merge and the touchpoint after it are stored."""

    def done() -> bool:
        journeys = worker.query("SELECT touchpoints FROM v_journeys")
        sessions = worker.query(
            "SELECT countIf(status != 'closed') AS open, sum(touchpoints) AS touchpoints "
            "FROM v_sessions"
        )
        identity = worker.query(
            "SELECT (SELECT count() FROM v_identities) AS identifiers, "
            "(SELECT count() FROM customer_merges FINAL) AS merges"
        )
        # Every touchpoint in a closed session, every identifier and the merge stored: each
        # table has its own sink, and one may trail another (more so after a crash).
        return (
            journeys == [{"touchpoints": 8}]
            and sessions == [{"open": 0, "touchpoints": 8}]
            and identity == [{"identifiers": 4, "merges": 1}]
        )

    wait_until(done, 120, "the merged journey, sessions closed, identities and merge stored")
    journeys = worker.query(
        "SELECT customer_id, stage, sessions, touchpoints, purchases, revenue, first_reached "
        "FROM v_journeys"
    )
    for journey in journeys:
        journey["revenue"] = Decimal(journey["revenue"])
        journey["first_reached"] = {k: when(v) for k, v in journey["first_reached"].items()}
    return {
        "journeys": journeys,
        "identities": worker.query(
            "SELECT identifier, customer_id FROM v_identities ORDER BY identifier"
        ),
        "merges": worker.query("SELECT loser_id, winner_id, identifier FROM customer_merges FINAL"),
        "touchpoints": worker.query(
            "SELECT event_id, customer_id, stage FROM v_touchpoints ORDER BY event_id"
        ),
        "sessions": worker.query(
            "SELECT customer_id, count() AS n, sum(touchpoints) AS touchpoints "
            "FROM v_sessions GROUP BY customer_id"
        ),
    }


EXPECTED_MERGED = {
    "journeys": [
        {
            "customer_id": WINNER,
            "stage": "decision",
            "sessions": 4,
            "touchpoints": 8,
            "purchases": 1,
            "revenue": Decimal(80),
            "first_reached": {
                "awareness": T,
                "consideration": T + timedelta(minutes=5),
                "decision": T + timedelta(days=31, minutes=10),  # the phone's cart
            },
        }
    ],
    "identities": [
        {"identifier": WINNER, "customer_id": WINNER},
        {"identifier": LOSER, "customer_id": WINNER},
        {"identifier": "email:ann", "customer_id": WINNER},
        {"identifier": "user:ann-42", "customer_id": WINNER},
    ],
    "merges": [{"loser_id": LOSER, "winner_id": WINNER, "identifier": "email:ann"}],
    "sessions": [{"customer_id": WINNER, "n": 4, "touchpoints": 8}],
}


def run_merge(
    kafka: str,
    worker_factory: Callable[..., WorkerProcess],
    prefix: str,
    clickhouse: Path,
    crash_mid_merge: bool,
) -> dict[str, Any]:
    """The two customers known separately, the order that merges them, a touchpoint after.

    With `crash_mid_merge`, the worker dies between the merge message and the absorption
    of the loser's journey (tests/crash_mid_merge_worker.py), and a new one takes over."""
    env = {
        **FAST_IDLE,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_CONSUMER_GROUP": f"journeys-{prefix}",
        "CLICKHOUSE_URL": f"chdb://{clickhouse}?database=journeys",
    }
    command = ["-m", "tests.crash_mid_merge_worker"] if crash_mid_merge else None
    worker = worker_factory(command, **env)
    known_separately(worker, kafka, prefix)
    send(kafka, prefix, ORDER)
    if crash_mid_merge:
        process = worker.process
        assert process is not None
        wait_until(lambda: process.poll() is not None, 60, "the crash mid-merge")
        assert worker.stop() == 137
        assert "injected crash: about to absorb" in worker.log_tail()
        worker = worker_factory(**env)  # the same group and tables: picks up from there
    send(kafka, prefix, AFTER)
    result = merged_result(worker)
    assert worker.stop() == 0, worker.log_tail()
    return result


def test_two_known_customers_merge_into_the_first_ranked_one(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    result = run_merge(
        kafka_bootstrap, worker_factory, f"t{unique}.", tmp_path / "ch", crash_mid_merge=False
    )
    touchpoints = result.pop("touchpoints")
    assert {t["customer_id"] for t in touchpoints} == {WINNER}
    assert [t["event_id"] for t in touchpoints] == sorted(
        t.event_id for t in LAPTOP + PHONE + ORDER + AFTER
    )
    assert result == EXPECTED_MERGED


def test_a_worker_crash_in_the_middle_of_a_merge_gives_the_same_result(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    crashed = run_merge(
        kafka_bootstrap, worker_factory, f"t{unique}.", tmp_path / "ch", crash_mid_merge=True
    )
    # The same as without the crash (the test above). Where the two customers met depends
    # on which partition saw the order's link first; after a crash and redelivery it may
    # be the other identifier the order carries.
    touchpoints = crashed.pop("touchpoints")
    assert {t["customer_id"] for t in touchpoints} == {WINNER}
    assert len(touchpoints) == len(LAPTOP + PHONE + ORDER + AFTER)
    met = {row.pop("identifier") for row in crashed["merges"]}
    assert met <= {"email:ann", "user:ann-42"}, met
    expected = {**EXPECTED_MERGED, "merges": [{"loser_id": LOSER, "winner_id": WINNER}]}
    assert crashed == expected


def test_a_shared_device_at_its_limit_is_recorded_not_merged(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**FAST_IDLE, JOURNEYS_IDENTITY_ANONYMOUS_ID_LIMIT="1")
    prefix = f"t{unique}."
    send(kafka_bootstrap, prefix, [tp("k-1", 0, 0, "page_view", anonymous_id="kiosk")])
    ann = tp("k-ann", 0, 1, "signed_in", anonymous_id="kiosk", user_id="ann")
    send(kafka_bootstrap, prefix, [ann])
    wait_until(
        lambda: worker.query("SELECT count() AS n FROM v_identities") == [{"n": 2}],
        60,
        "ann linked to the kiosk",
    )
    bob = tp("k-bob", 0, 2, "signed_in", anonymous_id="kiosk", user_id="bob")
    send(kafka_bootstrap, prefix, [bob])
    send(kafka_bootstrap, prefix, [tp("bob-home", 1, 0, "page_view", user_id="bob")])
    violations = wait_until(
        lambda: worker.query(
            "SELECT identifier, partner, customer_id, limit FROM identity_violations FINAL"
        ),
        60,
        "the refused link recorded",
    )
    assert violations == [
        {"identifier": "anon:kiosk", "partner": "user:bob", "customer_id": "anon:kiosk", "limit": 1}
    ]

    def three_identities() -> list[dict[str, Any]] | None:
        rows = worker.query("SELECT identifier, customer_id FROM v_identities ORDER BY identifier")
        return rows if len(rows) == 3 else None

    identities = wait_until(three_identities, 60, "bob as a customer of his own")
    assert identities == [
        {"identifier": "anon:kiosk", "customer_id": "anon:kiosk"},
        {"identifier": "user:ann", "customer_id": "anon:kiosk"},
        {"identifier": "user:bob", "customer_id": "user:bob"},
    ]
    assert worker.query("SELECT count() AS n FROM customer_merges") == [{"n": 0}]
