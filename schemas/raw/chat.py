"""Live chat / chatbot widget webhooks (Intercom-style notifications).

    {"id": "notif_7a2c", "topic": "conversation.rated", "created_at": 1772721300,
     "data": {"conversation_id": "conv-3301",
              "visitor": {"anonymous_id": "c-81f2d0", "user_id": "u-1042",
                          "email": "ann@example.com"},
              "author": "user", "rating": 5}}

Message bodies and rating remarks may arrive too; they are free text (personal data,
often), so this contract does not read them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime

#: Webhook topics and the canonical action of each.
CHAT_ACTIONS: dict[str, str] = {
    "conversation.started": "chat_started",
    "conversation.message": "chat_message",
    "conversation.resolved": "chat_resolved",
    "conversation.rated": "chat_rated",
}


class ChatVisitor(BaseModel):
    """Who the conversation is with, as far as the widget knows."""

    model_config = RAW

    anonymous_id: str | None = Field(default=None, description="the site's cookie id")
    user_id: str | None = Field(default=None, description="the brand's customer id")
    email: str | None = Field(default=None, description="hashed at ingest, never stored")

    @model_validator(mode="after")
    def _check(self) -> ChatVisitor:
        if not (self.anonymous_id or self.user_id or self.email):
            raise ValueError("anonymous_id, user_id or email is required")
        return self


class ChatData(BaseModel):
    """The conversation a notification is about."""

    model_config = RAW

    conversation_id: str = Field(min_length=1, max_length=200)
    visitor: ChatVisitor
    author: Literal["user", "bot", "agent"] | None = Field(
        default=None, description="who wrote the message (conversation.message)"
    )
    rating: int | None = Field(
        default=None, ge=1, le=5, description="the visitor's rating, 1..5 (conversation.rated)"
    )


class ChatEvent(BaseModel):
    """One webhook notification about one conversation."""

    model_config = RAW

    notification_id: str = Field(alias="id", min_length=1, max_length=200)
    topic: Literal[
        "conversation.started",
        "conversation.message",
        "conversation.resolved",
        "conversation.rated",
    ]
    created_at: EventTime
    data: ChatData

    @model_validator(mode="after")
    def _check(self) -> ChatEvent:
        if self.topic == "conversation.rated" and self.data.rating is None:
            raise ValueError("data.rating is required for conversation.rated")
        return self
