"""Chat widget webhooks -> touchpoints (never the messages' text)."""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    hashed,
    identities,
    properties,
    sentiment,
)
from schemas.raw.chat import CHAT_ACTIONS, ChatEvent
from schemas.touchpoint import Channel, Touchpoint


def chat_touchpoint(event: ChatEvent, ctx: MapContext) -> Touchpoint:
    """A chat notification: identities, conversation and rating, never message text."""
    data, visitor = event.data, event.data.visitor
    # Only the rating event scores: later notifications may repeat the rating.
    score = data.rating if event.topic == "conversation.rated" else None
    return ctx.touchpoint(
        event_id=f"chat:{event.notification_id}",
        event_time=event.created_at,
        channel=Channel.CHAT,
        platform="chat_widget",
        action=CHAT_ACTIONS[event.topic],
        identities=identities(
            anonymous_id=visitor.anonymous_id,
            user_id=visitor.user_id,
            email_hash=hashed("data.visitor.email", ctx.email_hash, visitor.email),
        ),
        score=score,
        sentiment=sentiment(score, 1, 5),
        properties=properties(conversation_id=data.conversation_id, author=data.author),
    )


SPEC = ChannelSpec(Channel.CHAT, ChatEvent, chat_touchpoint, frozenset(CHAT_ACTIONS.values()))
