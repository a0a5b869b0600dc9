"""Help desk ticket events (Zendesk-style ticket webhooks).

Only the ticket's category travels, never its subject or body (free text, often personal).

    {"id": "zd-ev-700188", "event": "ticket.rated", "ticket_id": 88231,
     "timestamp": "2026-03-15T13:30:00Z",
     "requester": {"email": "ann.lee@example.com", "user_id": "u-1042", "phone": null},
     "via": "email", "category": "returns", "rating": 4}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime, RawId

SupportEventType = Literal["ticket.created", "ticket.solved", "ticket.rated"]

#: Ticket events and the canonical action of each.
SUPPORT_ACTIONS: dict[SupportEventType, str] = {
    "ticket.created": "ticket_opened",
    "ticket.solved": "ticket_solved",
    "ticket.rated": "ticket_rated",
}

#: The CSAT rating's scale: worst, best.
RATING_SCALE = (1, 5)


class Requester(BaseModel):
    """Who asked for help."""

    model_config = RAW

    user_id: RawId | None = Field(default=None, description="the shop's customer id")
    email: str | None = Field(default=None, description="hashed at ingest, never stored")
    phone: str | None = Field(default=None, description="hashed at ingest, never stored")


class SupportEvent(BaseModel):
    """One event in the life of one ticket."""

    model_config = RAW

    id: RawId = Field(description="the event id (a ticket has several events)")
    event: SupportEventType
    ticket_id: RawId
    timestamp: EventTime
    requester: Requester = Requester()
    via: str | None = Field(default=None, description="how it came in: email, phone, chat, web")
    category: str | None = Field(default=None, description="the ticket's category, not subject")
    rating: int | None = Field(
        default=None,
        ge=RATING_SCALE[0],
        le=RATING_SCALE[1],
        description="ticket.rated: the CSAT answer, 1 (worst) .. 5 (best)",
    )

    @model_validator(mode="after")
    def _check(self) -> SupportEvent:
        requester = self.requester
        if not (requester.user_id or requester.email or requester.phone):
            raise ValueError(
                "an identifier is required: requester.user_id, requester.email or requester.phone"
            )
        if self.event == "ticket.rated" and self.rating is None:
            raise ValueError("rating is required for ticket.rated")
        return self
