"""What the journey engine keeps per customer (msgspec structs: cheap to build and
change, JSON at rest through `pipeline.journeys.codec`)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

import msgspec

from pipeline.journeys.identity import CustomerRef
from schemas.outputs import JourneySnapshot, SessionRecord, SessionStatus
from schemas.touchpoint import Touchpoint


class PathStep(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    """One step of a customer's recent path, kept for attribution."""

    event_id: str
    event_time: datetime
    channel: str
    action: str
    stage: str | None
    campaign: str | None
    purchase: bool = False  # so that a merge can tell a touchpoint counted twice
    revenue: Decimal | None = None
    source: str | None = None  # its campaign's source (utm_source)
    entry: bool = False  # it opened its session: a touch, for attribution
    goal: str | None = None  # the conversion-goal stage it first reached, if any


class SessionState(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    """A session being built (or one recently closed, kept for late touchpoints)."""

    session_id: str
    customer_id: str | None = None  # set when a merge moves it: its records keep this id
    version: int = 1
    started_at: datetime
    ended_at: datetime
    touchpoints: int = 0
    channels: list[str] = []
    entry_event_id: str
    entry_channel: str
    entry_campaign: str | None = None
    entry_source: str | None = None
    segment: str | None = None
    exit_event_id: str
    exit_channel: str
    stage_at_start: str | None = None
    stage_at_end: str | None = None
    stages_reached: list[str] = []
    occupied: list[str] = []  # the customer's stages, in order
    passed: list[str] = []  # set when it closes
    converted: bool = False
    revenue: Decimal = Decimal(0)
    closed: bool = False
    dropped_off_at: str | None = None
    funnel: list[str] = []  # the funnel steps reached, in order
    funnel_dropped_at: str | None = None  # set when it closes short of the funnel's end
    dimensions: dict[str, str] = {}  # the stage model's own dimensions, of its entry

    def record(
        self, customer_id: str, status: SessionStatus, is_late: bool = False
    ) -> SessionRecord:
        return SessionRecord(
            session_id=self.session_id,
            customer_id=self.customer_id or customer_id,
            version=self.version,
            status=status,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration_seconds=(self.ended_at - self.started_at).total_seconds(),
            touchpoints=self.touchpoints,
            channels=list(self.channels),
            entry_event_id=self.entry_event_id,
            entry_channel=self.entry_channel,
            entry_campaign=self.entry_campaign,
            entry_source=self.entry_source,
            segment=self.segment,
            exit_event_id=self.exit_event_id,
            exit_channel=self.exit_channel,
            stage_at_start=self.stage_at_start,
            stage_at_end=self.stage_at_end,
            stages_reached=list(self.stages_reached),
            passed=list(self.passed),
            converted=self.converted,
            revenue=self.revenue,
            dropped_off_at=self.dropped_off_at,
            is_late=is_late,
            funnel_reached=list(self.funnel),
            funnel_dropped_at=self.funnel_dropped_at,
            dimensions=dict(self.dimensions),
        )


def session_id(customer_id: str, entry_event_id: str) -> str:
    """A stable id: the same customer and entry touchpoint always give the same session."""
    return hashlib.blake2b(f"{customer_id}|{entry_event_id}".encode(), digest_size=10).hexdigest()


class CustomerState(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    """Everything the engine knows about one customer."""

    customer_id: str
    partition: int = 0
    stage: str | None = None  # the furthest stage reached
    first_reached: dict[str, datetime] = {}
    sessions: int = 0
    touchpoints: int = 0
    purchases: int = 0
    revenue: Decimal = Decimal(0)
    journey_version: int = 0
    first_event_id: str | None = None
    first_seen: datetime | None = None
    first_channel: str | None = None
    last_event_id: str | None = None
    last_seen: datetime | None = None
    last_channel: str | None = None
    path: list[PathStep] = []
    open: SessionState | None = None
    recent: list[SessionState] = []  # closed, newest last
    pending: list[Touchpoint] = []  # on time, not yet released
    seen: list[str] = []  # recent event ids, for duplicates
    absorbed: list[str] = []  # customers merged into this one
    # Set once this customer has merged into another: its touchpoints are forwarded there,
    # and `moved` (its state as it was) is sent again if the merge is redelivered.
    merged_into: CustomerRef | None = None
    moved: CustomerState | None = None
    # Pending touchpoints (event ids) whose provisional session row was written: each is
    # settled at its release (the session came to be, or a "withdrawn" row follows).
    announced: list[str] = []

    def latest_event_time(self) -> datetime | None:
        """The latest event time this customer holds (for rebuilding a watermark)."""
        times = [t.event_time for t in self.pending]
        if self.open is not None:
            times.append(self.open.ended_at)
        times.extend(session.ended_at for session in self.recent)
        return max(times, default=None)

    def snapshot(self) -> JourneySnapshot:
        assert self.first_seen is not None and self.last_seen is not None
        return JourneySnapshot(
            customer_id=self.customer_id,
            version=self.journey_version,
            stage=self.stage,
            first_reached=dict(self.first_reached),
            sessions=self.sessions,
            touchpoints=self.touchpoints,
            purchases=self.purchases,
            revenue=self.revenue,
            first_event_id=self.first_event_id or "",
            first_seen=self.first_seen,
            first_channel=self.first_channel or "",
            last_event_id=self.last_event_id or "",
            last_seen=self.last_seen,
            last_channel=self.last_channel or "",
        )
