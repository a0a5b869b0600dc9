"""Reviews, surveys, referrals and social activity -> touchpoints.

Review and survey text never reaches the touchpoint (it may hold personal data): only
its length does.
"""

from __future__ import annotations

from pipeline.ingest.channels.base import (
    ChannelSpec,
    MapContext,
    clean_url,
    identities,
    properties,
    sentiment,
)
from schemas.raw.feedback import (
    FEEDBACK_ACTIONS,
    REVIEW_SCALE,
    SURVEY_SCALES,
    FeedbackEvent,
)
from schemas.touchpoint import Channel, Touchpoint


def _length(text: str | None) -> int | None:
    return len(text) if text else None


def _rating(event: FeedbackEvent) -> tuple[int, tuple[int, int]] | None:
    """A review's or survey's score as given, with its scale (worst, best)."""
    if event.type == "review.posted" and event.review:
        return event.review.rating, REVIEW_SCALE
    if event.type == "survey.answered" and event.survey:
        return event.survey.score, SURVEY_SCALES[event.survey.kind]
    return None


def _details(event: FeedbackEvent) -> dict[str, str]:
    """Non-personal properties of the payload the event type is about."""
    review, survey = event.review, event.survey
    referral, social = event.referral, event.social
    if event.type == "review.posted" and review:
        return properties(product_id=review.product_id, review_length=_length(review.text))
    if event.type == "survey.answered" and survey:
        return properties(
            survey_id=survey.id, survey_kind=survey.kind, comment_length=_length(survey.comment)
        )
    if event.type.startswith("referral.") and referral:
        return properties(referral_code=referral.code)
    if event.type.startswith("social.") and social:
        return properties(post_id=social.post_id, url=clean_url(social.url))
    return {}


def feedback_touchpoint(event: FeedbackEvent, ctx: MapContext) -> Touchpoint:
    """A review, survey answer, referral or social share/mention by one customer."""
    customer = event.customer
    rating = _rating(event)
    return ctx.touchpoint(
        event_id=f"feedback:{event.id}",
        event_time=event.occurred_at,
        channel=Channel.FEEDBACK,
        platform=event.platform.lower(),
        action=FEEDBACK_ACTIONS[event.type],
        identities=identities(
            user_id=customer.user_id,
            email_hash=ctx.email_hash(customer.email),
            anonymous_id=customer.anonymous_id,
        ),
        score=rating[0] if rating else None,
        sentiment=sentiment(rating[0], *rating[1]) if rating else None,
        properties=_details(event),
    )


SPEC = ChannelSpec(
    Channel.FEEDBACK, FeedbackEvent, feedback_touchpoint, frozenset(FEEDBACK_ACTIONS.values())
)
