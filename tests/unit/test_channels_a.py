"""Channels ads, search, chat, popup, sms, push and video: what they reject, and how.

Every rejection must come back as a DeadLetter whose message names the field at fault
and never echoes personal data (emails, phone numbers) or free text.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any, get_args

import msgspec
import pytest
from pydantic import BaseModel

from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from schemas.raw.ads import ADS_ACTIONS, AdsEvent
from schemas.raw.chat import CHAT_ACTIONS, ChatEvent
from schemas.raw.popup import POPUP_ACTIONS, PopupEvent
from schemas.raw.push import PUSH_ACTIONS, PushEvent
from schemas.raw.search import SEARCH_ACTIONS, SearchEvent
from schemas.raw.sms import SMS_ACTIONS, SmsEvent
from schemas.raw.video import VIDEO_ACTIONS, VideoEvent
from schemas.touchpoint import Channel, Touchpoint

pytestmark = pytest.mark.unit

RECEIVED = datetime(2026, 6, 1, tzinfo=UTC)
NORMALIZE = Normalizer(PiiHasher(b"unit-test-key-0123456789"))

EMAIL = "ann.lee@example.com"
PHONE = "+4915123456789"
MESSAGE = "Hi, my address is 12 Elm Street"
#: Text that must never leave the normaliser, in a touchpoint or a dead letter.
PERSONAL = (EMAIL, PHONE, "15123456789", MESSAGE)

#: One valid raw event per channel; each case below breaks it in one way.
VALID: dict[Channel, dict[str, Any]] = {
    Channel.ADS: {
        "event_id": "ig-clk-1",
        "event_type": "click",
        "timestamp": "2026-03-01T12:02:41Z",
        "platform": "instagram",
        "campaign_id": "120210000000001",
        "click_id": "IwAR2x",
        "anonymous_id": "c-81f2d0",
        "device_id": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
    },
    Channel.SEARCH: {
        "event_id": "land-1",
        "type": "landing",
        "timestamp": 1772893325,
        "engine": "google",
        "paid": True,
        "landing_url": f"https://shop.example/spring?email={EMAIL}&gclid=Cj0K",
        "anonymous_id": "c-81f2d0",
        "user_id": "u-1042",
        "gclid": "Cj0K",
    },
    Channel.CHAT: {
        "id": "notif_1",
        "topic": "conversation.rated",
        "created_at": 1772703070,
        "data": {
            "conversation_id": "conv-3301",
            "visitor": {"anonymous_id": "c-81f2d0", "email": EMAIL},
            "author": "user",
            "rating": 4,
            "message": {"body": MESSAGE},
        },
    },
    Channel.POPUP: {
        "event_id": "om-1",
        "event": "submitted",
        "timestamp": "2026-03-03T16:59:30+01:00",
        "campaign_id": "exit-10off",
        "trigger": "exit_intent",
        "anonymous_id": "c-81f2d0",
        "email": EMAIL,
        "page_url": f"https://shop.example/cart?email={EMAIL}",
    },
    Channel.SMS: {
        "EventSid": "EV1",
        "EventType": "clicked",
        "Timestamp": "2026-03-04T17:31:12Z",
        "MessageSid": "SM1",
        "To": PHONE,
        "Body": MESSAGE,
        "Url": f"https://shop.example/spring?utm_source=sms&phone={PHONE}",
    },
    Channel.PUSH: {
        "event_id": "pe-1",
        "notification_id": "n-1",
        "event": "opened",
        "timestamp": 1772735400,
        "device_id": "d-3f9a6c",
        "user_id": "u-1042",
        "platform": "ios",
    },
    Channel.VIDEO: {
        "event_id": "yt-1",
        "event": "progress",
        "timestamp": "2026-03-09T18:41:30Z",
        "platform": "youtube",
        "video_id": "abc123",
        "percent_watched": 50,
        "anonymous_id": "c-81f2d0",
        "user_id": "u-1042",
    },
}

DROP = object()


def changed(channel: Channel, **changes: object) -> dict[str, Any]:
    """The channel's valid event with dotted paths (`data__rating`) set, or DROPped."""
    raw = copy.deepcopy(VALID[channel])
    for path, value in changes.items():
        *parents, name = path.split("__")
        target = raw
        for parent in parents:
            target = target[parent]
        if value is DROP:
            target.pop(name, None)
        else:
            target[name] = value
    return raw


def normalise(channel: Channel, raw: dict[str, Any]) -> Touchpoint | DeadLetter:
    value = json.dumps(raw).encode()
    return NORMALIZE(channel, RawRecord(f"touchpoints.raw.{channel}", 0, 7, b"k", value), RECEIVED)


@pytest.mark.parametrize("channel", list(VALID), ids=str)
def test_the_valid_events_normalise(channel: Channel) -> None:
    result = normalise(channel, VALID[channel])
    assert isinstance(result, Touchpoint), getattr(result, "error_message", result)
    assert result.event_id.startswith(f"{channel}:")
    dumped = msgspec.json.encode(result).decode()
    for secret in PERSONAL:
        assert secret not in dumped


REJECTED: list[tuple[Channel, dict[str, object], str]] = [
    # ads
    (Channel.ADS, {"event_type": "view"}, "event_type: Input should be 'impression' or 'click'"),
    (Channel.ADS, {"event_id": DROP}, "event_id: Field required"),
    (Channel.ADS, {"event_id": "  "}, "event_id: String should have at least 1 character"),
    (Channel.ADS, {"anonymous_id": DROP, "device_id": ""}, "anonymous_id or device_id is required"),
    (Channel.ADS, {"timestamp": "2026-03-01T12:02:41"}, "timestamp: Input should have timezone"),
    (Channel.ADS, {"platform": DROP}, "platform: Field required"),
    # search
    (Channel.SEARCH, {"type": "visit"}, "type: Input should be 'landing'"),
    (
        Channel.SEARCH,
        {"anonymous_id": None, "user_id": DROP},
        "anonymous_id or user_id is required",
    ),
    (Channel.SEARCH, {"paid": DROP}, "paid: Field required"),
    # chat
    (Channel.CHAT, {"topic": "conversation.deleted"}, "topic: Input should be"),
    (Channel.CHAT, {"id": DROP}, "id: Field required"),
    (Channel.CHAT, {"data__rating": 6}, "data.rating: Input should be less than or equal to 5"),
    (Channel.CHAT, {"data__rating": 0}, "data.rating: Input should be greater than or equal to 1"),
    (Channel.CHAT, {"data__rating": DROP}, "data.rating is required for conversation.rated"),
    (
        Channel.CHAT,
        {"data__visitor": {}},
        "data.visitor: Value error, anonymous_id, user_id or email",
    ),
    (Channel.CHAT, {"data__visitor__email": "ann.lee(at)example"}, "data.visitor.email: not an"),
    # popup
    (Channel.POPUP, {"email": DROP}, "email is required for a submitted event"),
    (Channel.POPUP, {"event": "clicked"}, "event: Input should be 'shown', 'dismissed' or"),
    (Channel.POPUP, {"event": "shown", "email": None, "anonymous_id": ""}, "anonymous_id or email"),
    (Channel.POPUP, {"email": "ann.lee@example"}, "email: not an email address"),
    # sms
    (Channel.SMS, {"EventType": "failed"}, "EventType: Input should be 'delivered', 'clicked' or"),
    (Channel.SMS, {"EventSid": DROP}, "EventSid: Field required"),
    (Channel.SMS, {"To": DROP}, "To: Field required"),
    (Channel.SMS, {"To": "+49 151 2345678901234"}, "To: not a possible phone number"),
    (Channel.SMS, {"To": "call me"}, "To: not a phone number"),
    # push
    (Channel.PUSH, {"event": "bounced"}, "event: Input should be 'sent', 'opened' or 'dismissed'"),
    (Channel.PUSH, {"device_id": DROP, "user_id": None}, "device_id or user_id is required"),
    (Channel.PUSH, {"platform": "windows"}, "platform: Input should be 'ios', 'android' or 'web'"),
    # video
    (Channel.VIDEO, {"event": "paused"}, "event: Input should be 'view_started', 'progress' or"),
    (Channel.VIDEO, {"percent_watched": DROP}, "percent_watched is required for a progress event"),
    (
        Channel.VIDEO,
        {"percent_watched": 120},
        "percent_watched: Input should be less than or equal",
    ),
    (Channel.VIDEO, {"anonymous_id": DROP, "user_id": DROP}, "anonymous_id or user_id is required"),
    (Channel.VIDEO, {"video_id": DROP}, "video_id: Field required"),
]


@pytest.mark.parametrize(
    ("channel", "changes", "message"),
    REJECTED,
    ids=[f"{channel}-{message[:40]}" for channel, _, message in REJECTED],
)
def test_a_broken_event_is_a_dead_letter_naming_the_field(
    channel: Channel, changes: dict[str, object], message: str
) -> None:
    raw = changed(channel, **changes)
    result = normalise(channel, raw)
    assert isinstance(result, DeadLetter), f"accepted: {result}"
    assert message in result.error_message
    assert (result.source_topic, result.source_offset) == (f"touchpoints.raw.{channel}", 7)
    assert result.raw_value == json.dumps(raw).encode()  # kept whole, for replay
    for secret in (*PERSONAL, "ann.lee"):
        assert secret not in result.error_message


@pytest.mark.parametrize(
    ("model", "field", "actions"),
    [
        (AdsEvent, "event_type", ADS_ACTIONS),
        (SearchEvent, "type", SEARCH_ACTIONS),
        (ChatEvent, "topic", CHAT_ACTIONS),
        (PopupEvent, "event", POPUP_ACTIONS),
        (SmsEvent, "event_type", SMS_ACTIONS),
        (PushEvent, "event", PUSH_ACTIONS),
        (VideoEvent, "event", VIDEO_ACTIONS),
    ],
    ids=["ads", "search", "chat", "popup", "sms", "push", "video"],
)
def test_every_accepted_event_type_has_an_action(
    model: type[BaseModel], field: str, actions: dict[str, str]
) -> None:
    assert set(get_args(model.model_fields[field].annotation)) == set(actions)


def test_only_the_rating_event_scores() -> None:
    rated = normalise(Channel.CHAT, VALID[Channel.CHAT])
    resolved = normalise(Channel.CHAT, changed(Channel.CHAT, topic="conversation.resolved"))
    assert isinstance(rated, Touchpoint)
    assert isinstance(resolved, Touchpoint)
    assert (rated.score, rated.sentiment) == (4, 0.5)
    assert (resolved.action, resolved.score, resolved.sentiment) == ("chat_resolved", None, None)
