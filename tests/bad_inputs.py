"""A corpus of bad raw records: every kind of breakage the normalisers must survive."""

from __future__ import annotations

import json

from schemas.touchpoint import Channel

_WEB_OK = {
    "messageId": "m-1",
    "type": "page",
    "anonymousId": "c-1",
    "timestamp": "2026-03-01T10:00:00Z",
}


def _web(**changes: object) -> bytes:
    return json.dumps({**_WEB_OK, **changes}).encode()


#: (name, channel, raw value) — none of these may become a touchpoint.
BAD_INPUTS: list[tuple[str, Channel, bytes | None]] = [
    ("empty value", Channel.WEB, b""),
    ("no value (tombstone)", Channel.WEB, None),
    ("truncated JSON", Channel.WEB, _web()[:-5]),
    ("not JSON at all", Channel.EMAIL, b"event=open&email=ann%40example.com"),
    ("JSON array", Channel.WEB, b"[1, 2, 3]"),
    ("JSON null", Channel.ADS, b"null"),
    ("JSON string", Channel.CHAT, b'"hello"'),
    ("invalid UTF-8", Channel.WEB, b'{"messageId": "\xff\xfe", "type": "page"}'),
    ("lone surrogate escape", Channel.WEB, _web(anonymousId="\ud800")),
    ("wrong type: id is a number", Channel.WEB, _web(messageId=123)),
    ("wrong type: timestamp is a word", Channel.WEB, _web(timestamp="yesterday")),
    ("timestamp without a zone", Channel.WEB, _web(timestamp="2026-03-01T10:00:00")),
    (
        "missing id",
        Channel.WEB,
        json.dumps({k: v for k, v in _WEB_OK.items() if k != "messageId"}).encode(),
    ),
    ("missing every identifier", Channel.WEB, _web(anonymousId=None)),
    ("unknown action", Channel.WEB, _web(type="track", event="Wishlist Added")),
    ("unknown event type", Channel.WEB, _web(type="identify")),
    ("far future", Channel.WEB, _web(timestamp="2100-01-01T00:00:00Z")),
    ("far past", Channel.WEB, _web(timestamp="1970-01-02T00:00:00Z")),
    ("oversized payload", Channel.WEB, _web(padding="x" * 70_000)),
    ("deeply nested", Channel.WEB, b'{"messageId": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    (
        "huge number",
        Channel.EMAIL,
        b'{"sg_event_id": "e", "event": "open", "timestamp": 1e400, "email": "a@b.co"}',
    ),
    (
        "NaN",
        Channel.EMAIL,
        b'{"sg_event_id": "e", "event": "open", "timestamp": NaN, "email": "a@b.co"}',
    ),
    (
        "bad email",
        Channel.EMAIL,
        b'{"sg_event_id": "e", "event": "open", "timestamp": 1741000000,'
        b' "email": "ann at example"}',
    ),
    ("a web event on the email topic", Channel.EMAIL, _web()),
    ("NaN product price", Channel.WEB, b'{"messageId": "m-1", "type": "track", "event": '
     b'"Product Viewed", "anonymousId": "c-1", "timestamp": "2026-03-01T10:00:00Z", '
     b'"properties": {"price": NaN}}'),
    ("negative product price", Channel.WEB, _web(type="track", event="Product Viewed",
                                                 properties={"price": -5})),
    ("negative order total", Channel.COMMERCE, json.dumps({
        "topic": "orders/create", "id": 7, "created_at": "2026-03-01T10:00:00Z",
        "customer": {"id": "u-1"}, "total_price": "-129.00", "currency": "EUR",
    }).encode()),
    ("negative imported revenue of an order", Channel.IMPORT, json.dumps({
        "event_id": "x-1", "event_time": "2026-03-01T10:00:00Z", "channel": "commerce",
        "action": "order_placed", "user_id": "u-1", "revenue": "-1.00", "currency": "EUR",
    }).encode()),
]  # fmt: skip
