"""Reviews, surveys, referrals and social activity, as the feedback collector relays them.

Review and survey text is read only to measure it; it never leaves the normaliser. For
referrals `customer` is the referrer; the friend appears only as a hash computed by the
referral platform, never as an identity.

    {"id": "fb-ev-2001", "type": "review.posted", "occurred_at": "2026-04-10T20:14:00+02:00",
     "customer": {"user_id": "u-1042", "email": "ann.lee@example.com", "anonymous_id": null},
     "platform": "trustpilot",
     "review": {"rating": 5, "title": "Great shoes", "text": "Comfy from day one.",
                "product_id": "sku-trail-42"}}

    {"id": "fb-ev-2002", "type": "survey.answered", "occurred_at": "2026-04-12T07:00:00Z",
     "customer": {"user_id": "u-1042"}, "platform": "delighted",
     "survey": {"id": "nps-q2-2026", "kind": "nps", "score": 9, "comment": "..."}}

    {"id": "fb-ev-2003", "type": "referral.sent", "occurred_at": "2026-04-15T18:00:00+02:00",
     "customer": {"user_id": "u-1042"}, "platform": "website",
     "referral": {"code": "ANN-5F2", "referred_email_hash": "659ad5e3...86d0"}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from schemas.raw.common import RAW, EventTime, RawId

FeedbackType = Literal[
    "review.posted",
    "survey.answered",
    "referral.sent",
    "referral.redeemed",
    "social.shared",
    "social.mentioned",
]

#: Feedback event types and the canonical action of each.
FEEDBACK_ACTIONS: dict[FeedbackType, str] = {
    "review.posted": "review_posted",
    "survey.answered": "survey_answered",
    "referral.sent": "referral_sent",
    "referral.redeemed": "referral_redeemed",
    "social.shared": "social_shared",
    "social.mentioned": "social_mentioned",
}

SurveyKind = Literal["nps", "csat"]

#: Each rating's scale: worst, best.
REVIEW_SCALE = (1, 5)
SURVEY_SCALES: dict[SurveyKind, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}


class FeedbackCustomer(BaseModel):
    """The author, respondent, referrer or sharer."""

    model_config = RAW

    user_id: RawId | None = Field(default=None, description="the shop's customer id")
    email: str | None = Field(default=None, description="hashed at ingest, never stored")
    anonymous_id: str | None = Field(default=None, description="the web tracker's anonymous id")


class Review(BaseModel):
    """A published review."""

    model_config = RAW

    rating: int = Field(ge=REVIEW_SCALE[0], le=REVIEW_SCALE[1], description="stars, 1..5")
    text: str | None = Field(default=None, description="free text: only its length is kept")
    product_id: str | None = Field(default=None, description="the product reviewed, if any")


class Survey(BaseModel):
    """One answer to an NPS (0..10) or CSAT (1..5) question."""

    model_config = RAW

    id: RawId | None = Field(default=None, description="the survey's id")
    kind: SurveyKind
    score: int
    comment: str | None = Field(default=None, description="free text: only its length is kept")

    @model_validator(mode="after")
    def _check(self) -> Survey:
        worst, best = SURVEY_SCALES[self.kind]
        if not worst <= self.score <= best:
            raise ValueError(f"score must be within {worst}..{best} on the {self.kind} scale")
        return self


class Referral(BaseModel):
    """A referral code passed on, or redeemed by a friend."""

    model_config = RAW

    code: str = Field(min_length=1, max_length=100)
    referred_email_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="the friend, as the platform's SHA-256 hex: never a raw address",
    )


class SocialPost(BaseModel):
    """A share or mention on a social network."""

    model_config = RAW

    post_id: str | None = None
    url: str | None = Field(default=None, description="the post, or the shared page")


class FeedbackEvent(BaseModel):
    """One review, survey answer, referral or social share/mention."""

    model_config = RAW

    id: RawId = Field(description="the event id")
    type: FeedbackType
    occurred_at: EventTime
    customer: FeedbackCustomer = FeedbackCustomer()
    platform: str = Field(
        min_length=1, max_length=64, description="where it happened: trustpilot, google, ..."
    )
    review: Review | None = None
    survey: Survey | None = None
    referral: Referral | None = None
    social: SocialPost | None = None

    @model_validator(mode="after")
    def _check(self) -> FeedbackEvent:
        customer = self.customer
        if not (customer.user_id or customer.email or customer.anonymous_id):
            raise ValueError(
                "an identifier is required: customer.user_id, customer.email or "
                "customer.anonymous_id"
            )
        if self.type == "review.posted" and self.review is None:
            raise ValueError("review is required for review.posted")
        if self.type == "survey.answered" and self.survey is None:
            raise ValueError("survey is required for survey.answered")
        if self.type.startswith("referral.") and self.referral is None:
            raise ValueError(f"referral is required for {self.type}")
        return self
