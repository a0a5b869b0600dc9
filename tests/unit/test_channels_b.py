"""Commerce, loyalty, store, support and feedback events that must become dead letters.

Each rejection names the field at fault and never echoes an email address or phone number.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import msgspec
import pytest

from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from schemas.raw.commerce import COMMERCE_ACTIONS, CommerceTopic
from schemas.raw.feedback import FEEDBACK_ACTIONS, FeedbackType
from schemas.raw.loyalty import LOYALTY_ACTIONS, LoyaltyType
from schemas.raw.store import STORE_ACTIONS, StoreType
from schemas.raw.support import SUPPORT_ACTIONS, SupportEventType
from schemas.touchpoint import Channel, Touchpoint

pytestmark = pytest.mark.unit

RECEIVED = datetime(2026, 6, 1, tzinfo=UTC)
NORMALIZE = Normalizer(PiiHasher(b"unit-key-0123456789"))
EMAIL = "ann.lee@example.com"
PHONE = "+49 30 1234567"
PERSONAL = (EMAIL, PHONE, "+49301234567", "1234567")

ORDER: dict[str, Any] = {
    "topic": "orders/create",
    "id": 5001,
    "created_at": "2026-03-09T19:55:02+01:00",
    "customer": {"id": "u-1042", "email": EMAIL, "phone": PHONE},
    "total_price": "129.00",
    "currency": "EUR",
    "line_items": [{"sku": "sku-trail-42", "quantity": 1, "price": "129.00"}],
}
LOYALTY: dict[str, Any] = {
    "id": "lp-evt-1",
    "type": "points.earned",
    "occurred_at": "2026-04-04T09:43:05Z",
    "member": {"loyalty_id": "L-778899", "email": EMAIL},
    "points": 90,
}
STORE: dict[str, Any] = {
    "id": "pos-ev-1",
    "type": "purchase",
    "occurred_at": "2026-04-04T11:42:30+02:00",
    "store_id": "ber-mitte-01",
    "loyalty_id": "L-778899",
    "receipt": {"id": "RC-1", "total": "89.90", "currency": "EUR"},
}
TICKET: dict[str, Any] = {
    "id": "zd-ev-1",
    "event": "ticket.rated",
    "ticket_id": 88231,
    "timestamp": "2026-03-15T13:30:00Z",
    "requester": {"email": EMAIL, "phone": PHONE},
    "rating": 4,
}
SURVEY: dict[str, Any] = {
    "id": "fb-ev-1",
    "type": "survey.answered",
    "occurred_at": "2026-04-12T07:00:00Z",
    "customer": {"email": EMAIL},
    "platform": "delighted",
    "survey": {"kind": "nps", "score": 9, "comment": f"call me on {PHONE}"},
}


def changed(base: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` set to `value`, or removed if omitted."""
    copy: dict[str, Any] = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    target = copy
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copy


def normalize(channel: Channel, raw: dict[str, Any]) -> Touchpoint | DeadLetter:
    record = RawRecord(f"touchpoints.raw.{channel}", 0, 7, b"k", json.dumps(raw).encode())
    return NORMALIZE(channel, record, RECEIVED)


VALID = {
    Channel.COMMERCE: ORDER,
    Channel.LOYALTY: LOYALTY,
    Channel.STORE: STORE,
    Channel.SUPPORT: TICKET,
    Channel.FEEDBACK: SURVEY,
}


@pytest.mark.parametrize("channel", VALID, ids=str)
def test_the_base_events_are_valid(channel: Channel) -> None:
    assert isinstance(normalize(channel, VALID[channel]), Touchpoint)


REJECTIONS = [
    # commerce
    (
        "commerce-unknown-topic",
        Channel.COMMERCE,
        changed(ORDER, "topic", "orders/cancelled"),
        "topic",
    ),
    ("commerce-missing-id", Channel.COMMERCE, changed(ORDER, "id"), ": id: Field required"),
    ("commerce-no-identifier", Channel.COMMERCE, changed(ORDER, "customer", {}), "customer.email"),
    (
        "commerce-no-currency",
        Channel.COMMERCE,
        changed(ORDER, "currency"),
        "currency: Field required",
    ),
    ("commerce-lower-currency", Channel.COMMERCE, changed(ORDER, "currency", "eur"), "currency"),
    ("commerce-float-price", Channel.COMMERCE, changed(ORDER, "total_price", 129.0), "total_price"),
    (
        "commerce-refund-missing",
        Channel.COMMERCE,
        changed(ORDER, "topic", "orders/refunded"),
        "refund",
    ),
    (
        "commerce-refund-over-total",
        Channel.COMMERCE,
        changed(
            changed(ORDER, "topic", "orders/refunded"),
            "refund",
            {"id": 9, "created_at": "2026-03-16T10:20:00Z", "amount": "130.00"},
        ),
        "refund.amount",
    ),
    (
        "commerce-bad-email",
        Channel.COMMERCE,
        changed(ORDER, "customer.email", "ann at example"),
        "email",
    ),
    # loyalty
    ("loyalty-unknown-type", Channel.LOYALTY, changed(LOYALTY, "type", "points.expired"), "type"),
    ("loyalty-missing-id", Channel.LOYALTY, changed(LOYALTY, "id"), ": id: Field required"),
    ("loyalty-no-identifier", Channel.LOYALTY, changed(LOYALTY, "member", {}), "member.loyalty_id"),
    ("loyalty-points-missing", Channel.LOYALTY, changed(LOYALTY, "points"), "points"),
    ("loyalty-negative-points", Channel.LOYALTY, changed(LOYALTY, "points", -5), "points"),
    # store
    ("store-unknown-type", Channel.STORE, changed(STORE, "type", "return"), "type"),
    ("store-missing-id", Channel.STORE, changed(STORE, "id"), ": id: Field required"),
    ("store-no-identifier", Channel.STORE, changed(STORE, "loyalty_id"), "loyalty_id"),
    ("store-no-receipt", Channel.STORE, changed(STORE, "receipt"), "receipt is required"),
    ("store-no-currency", Channel.STORE, changed(STORE, "receipt.currency"), "receipt.currency"),
    # support
    ("support-unknown-event", Channel.SUPPORT, changed(TICKET, "event", "ticket.merged"), "event"),
    ("support-missing-id", Channel.SUPPORT, changed(TICKET, "id"), ": id: Field required"),
    ("support-no-identifier", Channel.SUPPORT, changed(TICKET, "requester", {}), "requester.email"),
    ("support-no-rating", Channel.SUPPORT, changed(TICKET, "rating"), "rating"),
    ("support-rating-6", Channel.SUPPORT, changed(TICKET, "rating", 6), "rating"),
    ("support-bad-phone", Channel.SUPPORT, changed(TICKET, "requester.phone", "+49 1"), "phone"),
    # feedback
    ("feedback-unknown-type", Channel.FEEDBACK, changed(SURVEY, "type", "poll.answered"), "type"),
    ("feedback-missing-id", Channel.FEEDBACK, changed(SURVEY, "id"), ": id: Field required"),
    (
        "feedback-no-identifier",
        Channel.FEEDBACK,
        changed(SURVEY, "customer", {}),
        "customer.user_id",
    ),
    ("feedback-nps-11", Channel.FEEDBACK, changed(SURVEY, "survey.score", 11), "score"),
    (
        "feedback-csat-0",
        Channel.FEEDBACK,
        changed(changed(SURVEY, "survey.kind", "csat"), "survey.score", 0),
        "score",
    ),
    ("feedback-no-survey", Channel.FEEDBACK, changed(SURVEY, "survey"), "survey is required"),
    (
        "feedback-raw-referred-email",
        Channel.FEEDBACK,
        changed(
            changed(SURVEY, "type", "referral.sent"),
            "referral",
            {"code": "ANN-5F2", "referred_email_hash": EMAIL},
        ),
        "referral.referred_email_hash",
    ),
    (
        "feedback-review-0-stars",
        Channel.FEEDBACK,
        changed(changed(SURVEY, "type", "review.posted"), "review", {"rating": 0}),
        "review.rating",
    ),
]


@pytest.mark.parametrize(
    ("channel", "raw", "field"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_a_bad_event_is_a_dead_letter_naming_the_field(
    channel: Channel, raw: dict[str, Any], field: str
) -> None:
    letter = normalize(channel, raw)
    assert isinstance(letter, DeadLetter), letter
    assert field in letter.error_message
    assert letter.source_offset == 7
    for personal in PERSONAL:
        assert personal not in letter.error_message


def test_free_text_and_raw_personal_data_never_reach_the_touchpoint() -> None:
    review = changed(
        changed(SURVEY, "type", "review.posted"),
        "review",
        {"rating": 2, "text": f"Mail me at {EMAIL}", "title": "Meh"},
    )
    touchpoints = [
        normalize(Channel.FEEDBACK, SURVEY),
        normalize(Channel.FEEDBACK, review),
        normalize(Channel.SUPPORT, TICKET),
        normalize(Channel.COMMERCE, ORDER),
    ]
    for touchpoint in touchpoints:
        assert isinstance(touchpoint, Touchpoint)
        dumped = msgspec.json.encode(touchpoint).decode()
        for text in (*PERSONAL, "call me", "Mail me", "Meh"):
            assert text not in dumped


def test_scores_use_their_own_scale() -> None:
    nps = normalize(Channel.FEEDBACK, SURVEY)
    csat = normalize(
        Channel.FEEDBACK, changed(changed(SURVEY, "survey.kind", "csat"), "survey.score", 3)
    )
    assert isinstance(nps, Touchpoint)
    assert isinstance(csat, Touchpoint)
    assert (nps.score, nps.sentiment) == (9, 0.8)
    assert (csat.score, csat.sentiment) == (3, 0.0)


@pytest.mark.parametrize(
    ("event_types", "actions"),
    [
        (CommerceTopic, COMMERCE_ACTIONS),
        (LoyaltyType, LOYALTY_ACTIONS),
        (StoreType, STORE_ACTIONS),
        (SupportEventType, SUPPORT_ACTIONS),
        (FeedbackType, FEEDBACK_ACTIONS),
    ],
)
def test_every_event_type_has_an_action(event_types: Any, actions: dict[str, str]) -> None:
    assert set(get_args(event_types)) == set(actions)
