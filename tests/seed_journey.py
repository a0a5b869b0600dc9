"""The journey marketers draw (docs/domain): one customer, many channels, two months.

Every touchpoint carries the same user id, so the engine sees one customer without
identity stitching. EXPECTED_* are what a marketer would write down for it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from schemas.touchpoint import Identities, Touchpoint
from tests.factories import touchpoint

USER = "u-1042"
CUSTOMER = f"user:{USER}"


def at(month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def seed_journey() -> list[Touchpoint]:
    """The touchpoints in event-time order."""
    steps = [
        # An Instagram post; the profile; the landing page, left without action.
        ("ig-impression", "ad_impression", at(3, 1, 12, 0), {}),
        ("ig-click", "ad_click", at(3, 1, 12, 0, 20), {}),
        ("landing", "page_view", at(3, 1, 12, 1), {}),
        # A week later: a search, the product, a chatbot question, the exit-intent popup.
        ("search", "search_landing", at(3, 8, 19, 30), {}),
        ("product", "product_view", at(3, 8, 19, 31), {}),
        ("product-again", "page_view", at(3, 8, 19, 35), {}),
        ("chat", "chat_started", at(3, 8, 19, 38), {}),
        ("chat-message", "chat_message", at(3, 8, 19, 40), {}),
        ("popup-shown", "popup_shown", at(3, 8, 19, 44), {}),
        ("popup-email", "popup_submitted", at(3, 8, 19, 45), {}),
        # The coupon email does nothing.
        ("coupon", "email_delivered", at(3, 9, 9, 0), {}),
        # The newsletter's YouTube video, the site, the purchase, the thank-you email,
        # the loyalty programme.
        ("newsletter-open", "email_opened", at(3, 15, 18, 30), {}),
        ("newsletter-click", "email_clicked", at(3, 15, 18, 31), {}),
        ("video", "video_started", at(3, 15, 18, 32), {}),
        ("video-done", "video_completed", at(3, 15, 18, 40), {}),
        ("site", "page_view", at(3, 15, 18, 45), {}),
        ("product-3", "product_view", at(3, 15, 18, 47), {}),
        ("checkout", "checkout_started", at(3, 15, 18, 50), {}),
        ("order", "order_placed", at(3, 15, 18, 52), {"revenue": "129.00"}),
        ("thank-you", "email_delivered", at(3, 15, 18, 55), {}),
        ("loyalty", "loyalty_signed_up", at(3, 15, 19, 10), {}),
        # A repeat purchase in the store, then a review.
        ("store-visit", "store_visit", at(3, 31, 11, 0), {}),
        ("store-buy", "store_purchase", at(3, 31, 11, 20), {"revenue": "45.00"}),
        ("review", "review_posted", at(4, 10, 20, 0), {}),
    ]
    return [
        touchpoint(action, when, user=USER, event_id=event_id, **extra)
        for event_id, action, when, extra in steps
    ]


#: (kind, from, to, event id, time) of every transition.
EXPECTED_TRANSITIONS = [
    ("entered", None, "awareness", "ig-impression", at(3, 1, 12, 0)),
    ("dropped_off", "awareness", "awareness", "landing", at(3, 1, 12, 1)),  # left the page
    ("advanced", "awareness", "consideration", "product", at(3, 8, 19, 31)),
    ("dropped_off", "consideration", "consideration", "popup-email", at(3, 8, 19, 45)),
    ("dropped_off", "consideration", "consideration", "coupon", at(3, 9, 9, 0)),  # ignored
    ("advanced", "consideration", "decision", "checkout", at(3, 15, 18, 50)),
    ("advanced", "decision", "retention", "loyalty", at(3, 15, 19, 10)),
    ("advanced", "retention", "advocacy", "review", at(4, 10, 20, 0)),
]

#: (entry event, exit event, touchpoints, stage at start, stage at end, converted, passed,
#: dropped off at)
EXPECTED_SESSIONS = [
    ("ig-impression", "landing", 3, None, "awareness", False, [], "awareness"),
    (
        "search", "popup-email", 7, "awareness", "consideration", False, ["awareness"],
        "consideration",
    ),
    ("coupon", "coupon", 1, "consideration", "consideration", False, [], "consideration"),
    (
        "newsletter-open", "loyalty", 10, "consideration", "retention", True,
        ["consideration", "decision", "retention"], None,
    ),
    ("store-visit", "store-buy", 2, "retention", "retention", True, ["retention"], None),
    ("review", "review", 1, "retention", "advocacy", False, ["retention"], None),
]  # fmt: skip

EXPECTED_FIRST_REACHED = {
    "awareness": at(3, 1, 12, 0),
    "consideration": at(3, 8, 19, 31),
    "decision": at(3, 15, 18, 50),
    "retention": at(3, 15, 19, 10),
    "advocacy": at(4, 10, 20, 0),
}


#: The seed journey's identifiers as the channels would really see them: the Instagram ad
#: knows the phone's advertising id; the site a cookie on that phone (the landing page
#: carries both); the popup adds the email; email and video know only the email; checkout
#: is logged in (cookie + account); the order carries account and email; the loyalty
#: sign-up account and card; the store only the card; the review the email.
DEVICE, COOKIE, EMAIL, LOYALTY = "idfa-7f3a", "ck-9b1", "e-ann-5c2d", "L-5521"
IDENTIFIED_CUSTOMER = f"device:{DEVICE}"  # named by the first identifier seen
IDENTIFIERS_BY_EVENT: dict[str, dict[str, str]] = {
    "ig-impression": {"device_id": DEVICE},
    "ig-click": {"device_id": DEVICE},
    "landing": {"device_id": DEVICE, "anonymous_id": COOKIE},
    **{
        event: {"anonymous_id": COOKIE}
        for event in ("search", "product", "product-again", "chat", "chat-message", "popup-shown")
    },
    "popup-email": {"anonymous_id": COOKIE, "email_hash": EMAIL},
    **{
        event: {"email_hash": EMAIL}
        for event in ("coupon", "newsletter-open", "newsletter-click", "video", "video-done")
    },
    "site": {"anonymous_id": COOKIE},
    "product-3": {"anonymous_id": COOKIE},
    "checkout": {"anonymous_id": COOKIE, "user_id": USER},
    "order": {"user_id": USER, "email_hash": EMAIL},
    "thank-you": {"email_hash": EMAIL},
    "loyalty": {"user_id": USER, "loyalty_id": LOYALTY},
    "store-visit": {"loyalty_id": LOYALTY},
    "store-buy": {"loyalty_id": LOYALTY},
    "review": {"email_hash": EMAIL},
}
#: Every identifier key of the journey, as identity_links names them.
IDENTIFIER_KEYS = {
    f"device:{DEVICE}",
    f"anon:{COOKIE}",
    f"email:{EMAIL}",
    f"user:{USER}",
    f"loyalty:{LOYALTY}",
}


def seed_journey_identified() -> list[Touchpoint]:
    """The seed journey with the identifiers each channel really has (no user id on most)."""
    return [
        msgspec.structs.replace(t, identities=Identities(**IDENTIFIERS_BY_EVENT[t.event_id]))
        for t in seed_journey()
    ]
