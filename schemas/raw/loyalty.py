"""Loyalty programme platform webhooks (member, points and tier events).

{"id": "lp-evt-30001", "type": "points.earned", "occurred_at": "2026-04-04T09:43:05Z",
 "member": {"loyalty_id": "L-778899", "customer_id": "u-1042", "email": "ann.lee@example.com"},
 "points": 90, "balance": 140, "tier": "bronze", "reason": "purchase",
 "order_id": "RC-0404-2231"}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime, RawId

LoyaltyType = Literal["member.enrolled", "points.earned", "points.redeemed", "tier.changed"]

#: Loyalty event types and the canonical action of each.
LOYALTY_ACTIONS: dict[LoyaltyType, str] = {
    "member.enrolled": "loyalty_signed_up",
    "points.earned": "points_earned",
    "points.redeemed": "points_redeemed",
    "tier.changed": "tier_changed",
}


class LoyaltyMember(BaseModel):
    """The member: their card/member id and, once linked, the shop's customer id."""

    model_config = RAW

    loyalty_id: str | None = Field(default=None, description="the loyalty card / member id")
    customer_id: RawId | None = Field(default=None, description="the shop's customer id")
    email: str | None = Field(default=None, description="hashed at ingest, never stored")


class LoyaltyEvent(BaseModel):
    """One event about one loyalty member."""

    model_config = RAW

    id: RawId = Field(description="the event id")
    type: LoyaltyType
    occurred_at: EventTime
    member: LoyaltyMember = LoyaltyMember()
    points: int | None = Field(
        default=None, gt=0, description="points earned or redeemed (always positive)"
    )
    balance: int | None = Field(default=None, ge=0, description="points balance afterwards")
    tier: str | None = Field(default=None, description="the member's tier (afterwards)")
    previous_tier: str | None = Field(default=None, description="tier.changed: the tier before")
    reason: str | None = Field(default=None, description="e.g. purchase, review, referral")
    order_id: RawId | None = Field(
        default=None, description="the order or store receipt the points are for"
    )

    @model_validator(mode="after")
    def _check(self) -> LoyaltyEvent:
        member = self.member
        if not (member.loyalty_id or member.customer_id or member.email):
            raise ValueError(
                "an identifier is required: member.loyalty_id, member.customer_id or member.email"
            )
        if self.type in ("points.earned", "points.redeemed") and self.points is None:
            raise ValueError(f"points is required for {self.type}")
        if self.type == "tier.changed" and not self.tier:
            raise ValueError("tier is required for tier.changed")
        return self
