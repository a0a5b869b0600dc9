"""The journey engine: sessions, stages and journeys per customer, in event time.

Pure functions over `CustomerState`; the agent keeps the state in a Faust table and the
watermark per partition. The rules:

- The watermark W of a partition is the slowest source's latest event time minus the
  allowed lateness, over every source of the pipeline (and, once everything is idle, it
  moves on with the wall clock; see pipeline.journeys.clock). A touchpoint with event
  time above W waits in `pending`; once W passes it, touchpoints are applied in
  event-time order (ties by event id). So any order of arrival within the lateness
  gives the same result.
- A session ends at an inactivity gap or at its maximum length. It is closed when W
  shows that no on-time touchpoint can extend it any more.
- A touchpoint older than W is late: it joins the stored session it belongs to (a new
  version of that session) or forms a session of its own; it is never dropped.
- Stages only move forward: a customer's stage is the furthest reached. When a session
  closes, every stage the customer held in it and moved on from is *passed*; the stage
  they end it in is passed too if the session converted (a purchase), and otherwise it is
  where they *dropped off* (except the last stage, which has nowhere to go). So the
  drop-off rate of a stage is dropped / (dropped + passed).
- A stage model's funnel is counted per session instead: a session reaches a step when
  a touchpoint matches it after the steps before it; closing, it passed every step it
  reached but the last, and dropped off at that one unless it is the funnel's end. So a
  repeat buyer's later sessions count in the funnel as much as their first.
- The same event id twice is applied once.

    (customer state, Touchpoint, W) -> (customer state, Outputs)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.attribution.heuristics import AttributionConfig
from pipeline.attribution.live import conversion_credits, conversions_touched_by
from pipeline.journeys.identity import CustomerRef
from pipeline.journeys.stages import StageModel
from pipeline.journeys.state import CustomerState, PathStep, SessionState, session_id
from pipeline.metrics.windows import WindowReport
from schemas.outputs import (
    AttributionCredit,
    EnrichedTouchpoint,
    JourneySnapshot,
    SessionRecord,
    SessionStatus,
    StageTransition,
)
from schemas.touchpoint import Touchpoint


@dataclass(frozen=True)
class EngineConfig:
    """How sessions are cut and how much history is kept per customer."""

    stage_model: StageModel
    inactivity_gap: timedelta = timedelta(minutes=30)
    max_length: timedelta = timedelta(hours=24)
    allowed_lateness: timedelta = timedelta(minutes=5)
    retention: timedelta = timedelta(days=400)  # idle customers leave the hot state
    provisional: bool = False  # live touchpoints get a row at arrival, replaced at release
    path_limit: int = 50
    seen_limit: int = 200  # redeliveries come soon after the original
    recent_sessions: int = 3
    attribution: AttributionConfig | None = field(default_factory=AttributionConfig)  # None: none


@dataclass
class Outputs:
    """Everything one step emits, by topic."""

    touchpoints: list[EnrichedTouchpoint] = field(default_factory=list)  # final
    provisional: list[EnrichedTouchpoint] = field(default_factory=list)  # live, at arrival
    sessions: list[SessionRecord] = field(default_factory=list)
    transitions: list[StageTransition] = field(default_factory=list)
    journeys: list[JourneySnapshot] = field(default_factory=list)
    settled: list[SessionRecord] = field(default_factory=list)  # closings (also in sessions)
    reports: list[WindowReport] = field(default_factory=list)  # window counts, on ticks
    # Identity merges: touchpoints of a merged customer go on to the winner, and a merged
    # customer's state moves to the winner (both keyed by the winner).
    forwards: list[tuple[CustomerRef, Touchpoint]] = field(default_factory=list)
    moves: list[tuple[CustomerRef, CustomerState]] = field(default_factory=list)
    credits: list[AttributionCredit] = field(default_factory=list)  # attribution, per model

    def __bool__(self) -> bool:
        return bool(
            self.touchpoints
            or self.provisional
            or self.sessions
            or self.transitions
            or self.journeys
            or self.reports
            or self.forwards
            or self.moves
            or self.credits
        )

    def extend(self, other: Outputs) -> None:
        self.touchpoints.extend(other.touchpoints)
        self.provisional.extend(other.provisional)
        self.sessions.extend(other.sessions)
        self.transitions.extend(other.transitions)
        self.journeys.extend(other.journeys)
        self.settled.extend(other.settled)
        self.reports.extend(other.reports)
        self.forwards.extend(other.forwards)
        self.moves.extend(other.moves)
        self.credits.extend(other.credits)


def new_customer(customer_id: str, partition: int) -> CustomerState:
    return CustomerState(customer_id=customer_id, partition=partition)


def receive(
    state: CustomerState, touchpoint: Touchpoint, watermark: datetime, config: EngineConfig
) -> Outputs:
    """Take one touchpoint (W already counts it); returns what becomes final now."""
    out = Outputs()
    if touchpoint.event_id in state.seen or any(
        waiting.event_id == touchpoint.event_id for waiting in state.pending
    ):
        return out  # a duplicate delivery
    if touchpoint.event_time < watermark and state.touchpoints + len(state.pending) > 0:
        _remember(state, touchpoint.event_id, config)
        _apply_late(state, touchpoint, config, out)
        return out
    keys = [(t.event_time, t.event_id) for t in state.pending]
    index = bisect.bisect(keys, (touchpoint.event_time, touchpoint.event_id))
    state.pending.insert(index, touchpoint)
    advance(state, watermark, config, out)
    if is_live(touchpoint, config) and any(waiting is touchpoint for waiting in state.pending):
        _provisional(state, touchpoint, config, out)
    return out


def is_live(touchpoint: Touchpoint, config: EngineConfig) -> bool:
    """Whether `touchpoint` gets a provisional row: provisional rows are on and it arrived
    within the allowed lateness of its event time (history replayed gets final rows only)."""
    return (
        config.provisional
        and touchpoint.received_at - touchpoint.event_time <= config.allowed_lateness
    )


def _provisional(
    state: CustomerState, touchpoint: Touchpoint, config: EngineConfig, out: Outputs
) -> None:
    """A live touchpoint's rows at arrival, placed as the customer stands with its pending
    touchpoints (session, stage and sequence can still change): its touchpoint row, and
    its session's when it opens one. The final rows replace them at release."""
    placed_in, opens, position = _placement(state, touchpoint, config)
    stage = _classify(state, touchpoint, config)
    out.provisional.append(
        EnrichedTouchpoint(
            touchpoint=touchpoint, customer_id=state.customer_id, session_id=placed_in,
            stage=stage, sequence=state.touchpoints + position, is_late=False,
        )
    )  # fmt: skip
    if opens:
        session = _new_session(state, touchpoint)
        _extend_session(session, touchpoint, stage, config, state.purchases)
        session.version = 0
        out.sessions.append(session.record(state.customer_id, "provisional"))
        state.announced.append(touchpoint.event_id)


def _placement(
    state: CustomerState, touchpoint: Touchpoint, config: EngineConfig
) -> tuple[str, bool, int]:
    """The session `touchpoint` (pending) would join if everything pending were released
    now, whether it opens it, and its place (1-based) among the pending touchpoints:
    `_apply`'s rule, run over the open session and the pending touchpoints in order."""
    open_ = state.open
    current = open_.session_id if open_ is not None else None
    started = open_.started_at if open_ is not None else touchpoint.event_time
    ended = open_.ended_at if open_ is not None else touchpoint.event_time
    opener: Touchpoint | None = None
    for position, waiting in enumerate(state.pending, start=1):
        when = waiting.event_time
        if (
            current is None
            or when - ended > config.inactivity_gap
            or when - started > config.max_length
        ):
            current = session_id(state.customer_id, waiting.event_id)
            started = ended = when
            opener = waiting
        else:
            ended = max(ended, when)
        if waiting is touchpoint:
            return current, opener is touchpoint, position
    raise ValueError(f"{touchpoint.event_id} is not pending")


def withdrawn_session(state: CustomerState, touchpoint: Touchpoint) -> SessionRecord:
    """The row that withdraws the provisional session `touchpoint` opened at arrival (same
    key and partition, a higher version): it did not come to be."""
    return _new_session(state, touchpoint).record(state.customer_id, "withdrawn")


def advance(
    state: CustomerState, watermark: datetime, config: EngineConfig, out: Outputs | None = None
) -> Outputs:
    """Apply pending touchpoints the watermark has passed; close a session it has ended
    (what that emits is added to `out`, a new Outputs by default, and returned)."""
    out = Outputs() if out is None else out
    while state.pending and state.pending[0].event_time <= watermark:
        touchpoint = state.pending.pop(0)
        _remember(state, touchpoint.event_id, config)
        _apply(state, touchpoint, config, out)
    if state.open is not None and watermark >= session_deadline(state.open, config):
        _close(state, config, out)
    return out


def due(state: CustomerState, config: EngineConfig) -> datetime | None:
    """The watermark at which this customer next needs `advance` (or eviction)."""
    times = []
    if state.pending:
        times.append(state.pending[0].event_time)
    if state.open is not None:
        times.append(session_deadline(state.open, config))
    if not times and state.last_seen is not None:
        times.append(state.last_seen + config.retention)
    return min(times, default=None)


def evictable(state: CustomerState, watermark: datetime, config: EngineConfig) -> bool:
    """Whether the customer has been idle past the retention and can leave the hot state."""
    return (
        not state.pending
        and state.open is None
        and state.last_seen is not None
        and watermark >= state.last_seen + config.retention
    )


def session_deadline(session: SessionState, config: EngineConfig) -> datetime:
    """The watermark at which no on-time touchpoint can extend `session` any more."""
    return min(session.ended_at + config.inactivity_gap, session.started_at + config.max_length)


# ── in event-time order ─────────────────────────────────────────────────────────────


def _apply(
    state: CustomerState, touchpoint: Touchpoint, config: EngineConfig, out: Outputs
) -> None:
    when = touchpoint.event_time
    if state.open is not None and (
        when - state.open.ended_at > config.inactivity_gap
        or when - state.open.started_at > config.max_length
    ):
        _close(state, config, out)
    opened = state.open is None
    if state.open is None:
        state.open = _new_session(state, touchpoint)
        state.sessions += 1
    session = state.open
    stage = _classify(state, touchpoint, config)
    _extend_session(session, touchpoint, stage, config, state.purchases)
    moved = _journey_step(state, touchpoint, stage, session, config=config, out=out, is_late=False)
    session.stage_at_end = state.stage
    if moved and state.stage is not None:
        session.occupied.append(state.stage)
    out.touchpoints.append(_enriched(state, touchpoint, session, stage, is_late=False))
    if opened:
        out.sessions.append(session.record(state.customer_id, "opened"))
    if touchpoint.event_id in state.announced:  # its provisional session is settled now
        state.announced.remove(touchpoint.event_id)
        if not opened:  # it joined a session an earlier touchpoint opened
            out.sessions.append(withdrawn_session(state, touchpoint))
    if moved:
        out.journeys.append(state.snapshot())


def _settle(session: SessionState, config: EngineConfig) -> bool:
    """Work out what a closing session passed and where it dropped off (of the stages and
    of the funnel); True on a drop-off from a stage."""
    reached, steps = session.funnel, config.stage_model.funnel
    if reached and len(reached) < len(steps):
        session.funnel_dropped_at = reached[-1]
    end = session.stage_at_end
    session.passed = [stage for stage in session.occupied if stage != end]
    if end is None or end == config.stage_model.stages[-1]:
        return False
    if session.converted:
        session.passed.append(end)
        return False
    session.dropped_off_at = end
    return True


def _close(state: CustomerState, config: EngineConfig, out: Outputs) -> None:
    session = state.open
    assert session is not None
    settle_session(state, session, config, out)
    state.recent = [*state.recent, session][-config.recent_sessions :]
    state.open = None
    state.journey_version += 1
    out.journeys.append(state.snapshot())


def settle_session(
    state: CustomerState, session: SessionState, config: EngineConfig, out: Outputs
) -> None:
    """Close `session` of `state`'s customer: what it passed, where it dropped off."""
    session.closed = True
    session.version += 1
    if _settle(session, config):
        out.transitions.append(_drop_off(state, session))
    record = session.record(state.customer_id, "closed")
    out.sessions.append(record)
    out.settled.append(record)


# ── late touchpoints ────────────────────────────────────────────────────────────────


def _apply_late(
    state: CustomerState, touchpoint: Touchpoint, config: EngineConfig, out: Outputs
) -> None:
    when, gap = touchpoint.event_time, config.inactivity_gap
    target = None
    if state.open is not None and when >= state.open.started_at - gap:
        target = state.open
    else:
        for session in reversed(state.recent):
            if session.started_at - gap <= when <= session.ended_at + gap:
                target = session
                break
    new = target is None
    if target is None:  # a session of its own, already over
        target = _new_session(state, touchpoint)
        target.version = 0
        state.sessions += 1
        state.recent = sorted([*state.recent, target], key=lambda s: s.started_at)[
            -config.recent_sessions :
        ]
    stage = _classify(state, touchpoint, config)
    _extend_session(target, touchpoint, stage, config, state.purchases)
    if new:  # over already, once its touchpoint has counted for its funnel
        target.closed = True
    moved = _journey_step(state, touchpoint, stage, target, config=config, out=out, is_late=True)
    if moved or target is state.open or new:
        # What a closed session passed and where it dropped off were decided when it
        # closed, and stay as emitted; only its stage at the end moves on.
        target.stage_at_end = state.stage
        if moved and state.stage is not None and not target.closed:
            target.occupied.append(state.stage)
    if new and _settle(target, config):
        out.transitions.append(_drop_off(state, target))
    target.version += 1
    status: SessionStatus = "closed" if target.closed else "updated"
    out.touchpoints.append(_enriched(state, touchpoint, target, stage, is_late=True))
    record = target.record(state.customer_id, status, is_late=True)
    out.sessions.append(record)
    if new:
        out.settled.append(record)
    out.journeys.append(state.snapshot())


# ── shared steps ────────────────────────────────────────────────────────────────────


def _classify(state: CustomerState, touchpoint: Touchpoint, config: EngineConfig) -> str | None:
    return config.stage_model.classify(touchpoint, purchases_before=state.purchases)


def _new_session(state: CustomerState, touchpoint: Touchpoint) -> SessionState:
    campaign = touchpoint.campaign
    return SessionState(
        session_id=session_id(state.customer_id, touchpoint.event_id),
        version=1,
        started_at=touchpoint.event_time,
        ended_at=touchpoint.event_time,
        entry_event_id=touchpoint.event_id,
        entry_channel=touchpoint.channel.value,
        entry_campaign=(campaign.name or campaign.campaign_id) if campaign else None,
        entry_source=campaign.source if campaign else None,
        segment=touchpoint.properties.get("segment"),
        exit_event_id=touchpoint.event_id,
        exit_channel=touchpoint.channel.value,
        stage_at_start=state.stage,
        stage_at_end=state.stage,
        occupied=[state.stage] if state.stage is not None else [],
    )


def _extend_session(
    session: SessionState,
    touchpoint: Touchpoint,
    stage: str | None,
    config: EngineConfig,
    purchases_before: int,
) -> None:
    when, channel = touchpoint.event_time, touchpoint.channel.value
    model = config.stage_model
    if model.dimensions and (session.touchpoints == 0 or when < session.started_at):
        # The entry touchpoint's values of the model's own dimensions ('' when it has none).
        session.dimensions = {
            name: touchpoint.properties.get(name, "") for name in model.dimensions
        }
    if when < session.started_at:  # only late touchpoints come before the start
        session.started_at = when
        session.entry_event_id, session.entry_channel = touchpoint.event_id, channel
        campaign = touchpoint.campaign
        session.entry_campaign = (campaign.name or campaign.campaign_id) if campaign else None
        session.entry_source = campaign.source if campaign else None
        session.segment = touchpoint.properties.get("segment")
    if when >= session.ended_at:
        session.ended_at = when
        session.exit_event_id, session.exit_channel = touchpoint.event_id, channel
    session.touchpoints += 1
    if channel not in session.channels:
        session.channels.append(channel)
    if stage is not None and stage not in session.stages_reached:
        session.stages_reached.append(stage)
    if model.is_purchase(touchpoint):
        session.converted = True
    if touchpoint.revenue is not None:
        session.revenue += touchpoint.revenue
    # A closed session's funnel was counted when it closed: it stays as counted.
    if not session.closed and model.next_step(len(session.funnel), touchpoint, purchases_before):
        session.funnel.append(model.funnel[len(session.funnel)].stage)


def _journey_step(
    state: CustomerState,
    touchpoint: Touchpoint,
    stage: str | None,
    session: SessionState,
    *,
    config: EngineConfig,
    out: Outputs,
    is_late: bool,
) -> bool:
    """Update the journey with one touchpoint; True when the customer's stage moved."""
    model, when = config.stage_model, touchpoint.event_time
    state.touchpoints += 1
    state.journey_version += 1
    if model.is_purchase(touchpoint):
        state.purchases += 1
    if touchpoint.revenue is not None:
        state.revenue += touchpoint.revenue
    if state.first_seen is None or when < state.first_seen:
        state.first_event_id, state.first_seen = touchpoint.event_id, when
        state.first_channel = touchpoint.channel.value
    if state.last_seen is None or when >= state.last_seen:
        state.last_event_id, state.last_seen = touchpoint.event_id, when
        state.last_channel = touchpoint.channel.value
    campaign = touchpoint.campaign
    step = PathStep(
        event_id=touchpoint.event_id,
        event_time=when,
        channel=touchpoint.channel.value,
        action=touchpoint.action,
        stage=stage,
        campaign=(campaign.name or campaign.campaign_id) if campaign else None,
        purchase=model.is_purchase(touchpoint),
        revenue=touchpoint.revenue,
        source=campaign.source if campaign else None,
        entry=session.entry_event_id == touchpoint.event_id,
    )
    state.path = [*state.path, step][-config.path_limit :]
    _attribute(state, step, config, out, is_late=is_late)
    if stage is None:
        return False
    if stage not in state.first_reached or when < state.first_reached[stage]:
        state.first_reached[stage] = when
    previous = state.stage
    if previous is not None and model.rank(stage) <= model.rank(previous):
        return False
    since = (when - state.first_reached[previous]).total_seconds() if previous is not None else None
    state.stage = stage
    if stage in model.conversion_goals and config.attribution is not None:
        step.goal = stage
        out.credits.extend(
            conversion_credits(state, step, config.attribution, state.journey_version, stage)
        )
    out.transitions.append(
        StageTransition(
            transition_id=f"{session.session_id}:{touchpoint.event_id}",
            customer_id=state.customer_id,
            session_id=session.session_id,
            kind="entered" if previous is None else "advanced",
            from_stage=previous,
            to_stage=stage,
            event_time=when,
            seconds_since_previous=since,
            event_id=touchpoint.event_id,
            channel=touchpoint.channel.value,
            campaign=step.campaign,
            segment=touchpoint.properties.get("segment"),
            is_late=is_late,
        )
    )
    return True


def _attribute(
    state: CustomerState, step: PathStep, config: EngineConfig, out: Outputs, *, is_late: bool
) -> None:
    """Credit a purchase; a late touch credits again the conversions whose paths it joins,
    and so does a late purchase when paths start after the previous purchase."""
    attribution = config.attribution
    if attribution is None:
        return
    if step.purchase:
        out.credits.extend(conversion_credits(state, step, attribution, state.journey_version))
    touch = step.entry and not step.purchase
    cuts_paths = step.purchase and attribution.since_previous_conversion
    if not is_late or not (touch or cuts_paths):
        return
    for conversion, goal in conversions_touched_by(state, step, attribution):
        if conversion is not step:
            out.credits.extend(
                conversion_credits(state, conversion, attribution, state.journey_version, goal)
            )


def _drop_off(state: CustomerState, session: SessionState) -> StageTransition:
    stage = session.stage_at_end
    assert stage is not None
    return StageTransition(
        transition_id=f"{session.session_id}:dropped_off",
        customer_id=state.customer_id,
        session_id=session.session_id,
        kind="dropped_off",
        from_stage=stage,
        to_stage=stage,
        event_time=session.ended_at,
        seconds_since_previous=None,
        event_id=session.exit_event_id,
        channel=session.exit_channel,
        campaign=session.entry_campaign,
        segment=session.segment,
    )


def _enriched(
    state: CustomerState,
    touchpoint: Touchpoint,
    session: SessionState,
    stage: str | None,
    *,
    is_late: bool,
) -> EnrichedTouchpoint:
    return EnrichedTouchpoint(
        touchpoint=touchpoint,
        customer_id=state.customer_id,
        session_id=session.session_id,
        stage=stage,
        sequence=state.touchpoints,
        is_late=is_late,
    )


def _remember(state: CustomerState, event_id: str, config: EngineConfig) -> None:
    state.seen.append(event_id)
    if len(state.seen) > config.seen_limit:
        del state.seen[: len(state.seen) - config.seen_limit]
