"""What the pipeline emits, one kind per ClickHouse table.

The journey engine's outputs (enriched touchpoints, session versions, stage transitions,
journey snapshots) are msgspec structs: built many times per event by trusted code, so
they are not validated again. Alerts and identity records are pydantic models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas.touchpoint import Touchpoint

#: A timezone-aware instant, normalised to UTC (in the pydantic records below).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: "provisional": a live touchpoint opened it and is not released yet (version 0);
#: "withdrawn": a provisional session that did not come to be (its touchpoint joined
#: another session, or its customer merged into another).
SessionStatus = Literal["provisional", "opened", "updated", "closed", "withdrawn"]


class EnrichedTouchpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A touchpoint placed in its customer's journey (table touchpoints)."""

    touchpoint: Touchpoint
    customer_id: str
    session_id: str | None  # None for bot traffic, which stays out of journeys
    stage: str | None  # the stage its rule gave it, None when no rule matched
    sequence: int  # 1, 2, 3 ... per customer in event-time order (0 for bots)
    is_late: bool = False  # arrived after the watermark had passed its time

    @property
    def event_id(self) -> str:
        return self.touchpoint.event_id


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a session (table sessions); the highest version wins."""

    session_id: str
    customer_id: str
    version: int  # 0 (provisional), 1, 2, 3 ...
    status: SessionStatus
    started_at: datetime  # UTC
    ended_at: datetime  # the last touchpoint so far
    duration_seconds: float
    touchpoints: int
    channels: list[str]  # distinct, in order of first appearance
    entry_event_id: str
    entry_channel: str
    entry_campaign: str | None  # the entry touchpoint's campaign name or id
    entry_source: str | None  # ... and its utm source
    segment: str | None  # the entry touchpoint's `segment` property (persona)
    exit_event_id: str
    exit_channel: str
    stage_at_start: str | None  # the customer's stage before the session
    stage_at_end: str | None
    stages_reached: list[str]  # stages the session's touchpoints were classified into, in order
    converted: bool  # a purchase happened in the session
    revenue: Decimal
    passed: list[str]  # stages moved on from in the session (and the last, if it converted)
    dropped_off_at: str | None  # ended here without converting (never the last stage)
    is_late: bool = False  # this version exists because a late touchpoint arrived
    funnel_reached: list[str] = []  # the stage model's funnel steps reached, in order
    funnel_dropped_at: str | None = None  # the last step reached, when short of the end
    dimensions: dict[str, str] = {}  # the stage model's own dimensions: entry's values


class AttributionCredit(msgspec.Struct, frozen=True, kw_only=True):
    """One touch's credit for one conversion under one model (table attribution_credits);
    the highest version of a (conversion, model, touch) is the credit as it stands."""

    conversion_id: str  # the purchase's event id; for a goal, "<stage>:<event id>"
    goal: str  # "purchase", or the conversion-goal stage the customer first reached
    customer_id: str
    converted_at: datetime
    model: str  # first_touch | last_touch | last_non_direct | linear | time_decay | position_based
    touch_event_id: str
    touch_time: datetime
    channel: str
    campaign: str | None
    source: str | None
    conversions: Decimal  # its share of the conversion: a model's shares sum to 1
    revenue: Decimal  # ... and of its revenue
    version: int


class StageTransition(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's move in the stage model (table stage_transitions)."""

    transition_id: str
    customer_id: str
    session_id: str
    kind: Literal["entered", "advanced", "dropped_off"]
    from_stage: str | None  # None when entering the first stage ever reached
    to_stage: str  # for dropped_off: the stage the customer dropped off at
    event_time: datetime  # of the touchpoint; for dropped_off, when the session ended
    seconds_since_previous: float | None  # since from_stage was first reached
    event_id: str  # the touchpoint that caused it (the session's exit for dropped_off)
    channel: str
    campaign: str | None
    segment: str | None = None  # the touchpoint's `segment` property (persona), if sent
    is_late: bool = False


class JourneySnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's journey so far (table customer_journeys); the highest version wins."""

    customer_id: str
    version: int  # 1, 2, 3 ...
    stage: str | None
    first_reached: dict[str, datetime]  # stage -> when it was first reached
    sessions: int
    touchpoints: int
    purchases: int
    revenue: Decimal
    first_event_id: str
    first_seen: datetime
    first_channel: str
    last_event_id: str
    last_seen: datetime
    last_channel: str


AlertStatus = Literal["firing", "resolved"]


class Contributor(BaseModel):
    """A channel, campaign or segment with more drop-offs than the baseline explains."""

    model_config = _FROZEN

    dimension: str
    value: str
    dropped: int
    sessions: int
    rate: float
    excess: float  # drop-offs above what the baseline rate predicts for its sessions
    share: float = 0.0  # of its dimension's lost conversions (the excess of every value)
    sessions_share: float = 0.0  # of its dimension's sessions


class DropoffAlert(BaseModel):
    """A drop-off spike at a stage: fired once when it starts, resolved when it ends
    (topic journeys.alerts, ClickHouse `alerts`, the webhook)."""

    model_config = _FROZEN

    alert_id: str  # the same for the firing and the resolution of one episode
    status: AlertStatus
    stage: str  # customers drop off here instead of moving on to next_stage
    next_stage: str | None
    window_size_seconds: int
    window_start: UtcDatetime
    window_end: UtcDatetime
    episode_started_at: UtcDatetime
    observed_rate: float
    baseline_rate: float
    sessions: int  # the volume: sessions at the stage in the window
    dropped: int
    z_score: float | None
    p_value: float | None  # one-sided, of the rise over the baseline
    severity: Literal["warning", "critical"]
    contributors: list[Contributor]


class StepWindow(BaseModel):
    """How the detector judged one final window of one stage or funnel step (topic
    journeys.step-windows, ClickHouse `step_windows`): the rate, the baseline it was held
    against and the episode it is part of, for every window, alert or not."""

    model_config = _FROZEN

    stage: str
    next_stage: str | None
    window_size_seconds: int
    window_start: UtcDatetime
    window_end: UtcDatetime
    sessions: int
    dropped: int
    observed_rate: float
    baseline_rate: float | None  # None: too little history to judge yet
    evidence: float  # the summed evidence for a rise after this window (alerts at the threshold)
    anomalous: bool
    alert_id: str | None  # the episode open after this window, if any


IdentityLinkReason = Literal["minted", "linked", "merged", "repointed"]


class IdentityLink(BaseModel):
    """An identifier belongs to a customer from now on (topic identity.links, ClickHouse
    `identity_links`); the highest version of an identifier is where it belongs now."""

    model_config = _FROZEN

    identifier: str  # the identifier key, e.g. anon:ck-1, email:<hash>, user:u-1042
    identifier_type: str  # anonymous_id, device_id, email_hash, phone_hash, user_id, loyalty_id
    customer_id: str
    version: int = Field(ge=1)  # per identifier, grows with every change
    reason: IdentityLinkReason  # named a new customer | joined one | moved on a merge | caught up
    via: str | None  # the identifier it was seen with (None when it named the customer)
    event_id: str  # the touchpoint that caused it
    event_time: UtcDatetime


class CustomerMerge(BaseModel):
    """Two customers turned out to be one: the loser's journey moves into the winner's
    (topic identity.merges, ClickHouse `customer_merges`). Each loser merges once; chains
    (a -> b, then b -> c) are followed by the analyst views."""

    model_config = _FROZEN

    loser_id: str
    winner_id: str  # the older customer (ties: the smaller id)
    loser_born: UtcDatetime
    winner_born: UtcDatetime
    identifier: str  # the identifier both customers claimed
    via: str  # the identifier it was seen with
    event_id: str
    event_time: UtcDatetime


class IdentityViolation(BaseModel):
    """A link refused by a guard rail (topic identity.violations, ClickHouse
    `identity_violations`): the identifier is already linked to as many identifiers of the
    partner's type as its type allows (a shared device, a typo'd email)."""

    model_config = _FROZEN

    identifier: str  # the identifier at its limit
    identifier_type: str
    partner: str  # the identifier refused
    partner_type: str
    customer_id: str  # the customer the link would have joined
    limit: int
    event_id: str
    event_time: UtcDatetime
