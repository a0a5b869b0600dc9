"""Merging two customers' journeys into one, after identity resolution found they are one.

    (winner state, loser state) -> winner state holding both, Outputs (a journey snapshot)

The loser's facts stay as they were written (its touchpoints, sessions and transitions
keep its customer id; the analyst views map it to the winner through `customer_merges`).
What moves is the journey state, so that the engine goes on as if one customer had made
every touchpoint:

- stage first-reached times: the earlier of the two; the stage: the furthest;
- counts, purchases and revenue: summed, minus touchpoints both had applied (a touchpoint
  redelivered after its identifier moved to the winner), recognised by event id;
- the path and the recent event ids: merged in event-time order, duplicates once;
- pending (not yet released) touchpoints: both, in event-time order, duplicates once;
- open sessions: with one, it becomes the winner's; with two, the winner's stays open and
  the loser's closes as it stands (its customer id kept), settled like any other;
- attribution: each conversion whose lookback now holds steps of the other customer is
  credited again, as one customer's (a new version of its credits, under the winner's
  id); a conversion-goal stage both had reached stays the earlier one's conversion, and
  the later one's credits are withdrawn (set to zero);
- absorbing the same customer twice (a redelivered merge) changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from pipeline.attribution.heuristics import AttributionConfig
from pipeline.attribution.live import conversion_credits
from pipeline.journeys.engine import EngineConfig, Outputs, settle_session, withdrawn_session
from pipeline.journeys.identity import CustomerRef
from pipeline.journeys.state import CustomerState, PathStep, SessionState
from schemas.outputs import AttributionCredit


class Absorb(msgspec.Struct, frozen=True, kw_only=True, tag="ab"):
    """For the engine (keyed by the winner): take `state`, a merged customer's journey."""

    winner: CustomerRef
    state: CustomerState
    hops: int = 0  # times it was passed on to a winner's own winner


def absorb(winner: CustomerState, loser: CustomerState, config: EngineConfig) -> Outputs:
    """Fold `loser` into `winner` (in place); returns the sessions closed and the journey."""
    out = Outputs()
    if loser.customer_id == winner.customer_id or loser.customer_id in winner.absorbed:
        return out  # already here
    for session in [*loser.recent, *([loser.open] if loser.open else [])]:
        _keep_owner(session, loser.customer_id)
    # The loser's pending touchpoints are released under the winner's id: the provisional
    # sessions they opened under the loser's do not come to be.
    announced = set(loser.announced)
    out.sessions.extend(
        withdrawn_session(loser, t) for t in loser.pending if t.event_id in announced
    )
    sides = ({step.event_id for step in winner.path}, {step.event_id for step in loser.path})
    applied_twice = set(winner.seen) & set(loser.seen)
    twice = [step for step in loser.path if step.event_id in applied_twice]
    winner.touchpoints += loser.touchpoints - len(applied_twice)
    winner.purchases += loser.purchases - sum(step.purchase for step in twice)
    winner.revenue += loser.revenue - sum((s.revenue or Decimal(0) for s in twice), Decimal(0))
    winner.sessions += loser.sessions
    _merge_stages(winner, loser, config)
    _merge_ends(winner, loser)
    winner.path = _merge_path(winner.path, loser.path)[-config.path_limit :]
    winner.seen = list(dict.fromkeys([*loser.seen, *winner.seen]))[-config.seen_limit :]
    applied = set(winner.seen)
    both = [*winner.pending, *loser.pending]
    waiting = {t.event_id: t for t in both if t.event_id not in applied}
    winner.pending = sorted(waiting.values(), key=lambda t: (t.event_time, t.event_id))
    recent = list(winner.recent) + list(loser.recent)
    if loser.open is not None:
        if winner.open is None:
            winner.open = loser.open
        else:
            settle_session(loser, loser.open, config, out)
            recent.append(loser.open)
    recent.sort(key=lambda s: (s.started_at, s.session_id))
    winner.recent = recent[-config.recent_sessions :]
    winner.journey_version += loser.journey_version + 1
    winner.absorbed = list(dict.fromkeys([*winner.absorbed, loser.customer_id, *loser.absorbed]))
    if config.attribution is not None:
        out.credits.extend(_credited_again(winner, *sides, config.attribution))
    if winner.first_seen is not None and winner.last_seen is not None:
        out.journeys.append(winner.snapshot())
    return out


def _credited_again(
    merged: CustomerState, winners: set[str], losers: set[str], config: AttributionConfig
) -> list[AttributionCredit]:
    """The credits the merge changed (see the module's docstring): of each conversion on
    the merged path whose lookback holds a step (a touch, or a purchase that cuts paths)
    that only the other customer had; and the withdrawal of a goal reached twice."""
    only = {True: winners - losers, False: losers - winners}  # keyed by "from the winner"
    credits: list[AttributionCredit] = []
    goals_reached: set[str] = set()
    version = merged.journey_version
    for step in merged.path:  # in event-time order
        goal = step.goal
        if goal is not None and goal in goals_reached:  # reached by both: the later goes
            withdrawn = conversion_credits(merged, step, config, version, goal)
            credits.extend(
                msgspec.structs.replace(c, conversions=Decimal(0), revenue=Decimal(0))
                for c in withdrawn
            )
            step.goal = goal = None
        if goal is not None:
            goals_reached.add(goal)
        if not step.purchase and goal is None:
            continue
        others = only[step.event_id in winners]
        since = step.event_time - config.lookback
        if not any(
            s.event_id in others and since <= s.event_time <= step.event_time for s in merged.path
        ):
            continue
        if step.purchase:
            credits.extend(conversion_credits(merged, step, config, version))
        if goal is not None:
            credits.extend(conversion_credits(merged, step, config, version, goal))
    return credits


def _keep_owner(session: SessionState, customer_id: str) -> None:
    if session.customer_id is None:
        session.customer_id = customer_id


def _merge_stages(winner: CustomerState, loser: CustomerState, config: EngineConfig) -> None:
    for stage, when in loser.first_reached.items():
        if stage not in winner.first_reached or when < winner.first_reached[stage]:
            winner.first_reached[stage] = when
    model = config.stage_model
    stages = [s for s in (winner.stage, loser.stage) if s is not None]
    winner.stage = max(stages, key=model.rank, default=None)


def _merge_ends(winner: CustomerState, loser: CustomerState) -> None:
    if loser.first_seen is not None and (
        winner.first_seen is None
        or (loser.first_seen, loser.first_event_id or "")
        < (winner.first_seen, winner.first_event_id or "")
    ):
        winner.first_seen, winner.first_event_id = loser.first_seen, loser.first_event_id
        winner.first_channel = loser.first_channel
    if loser.last_seen is not None and (
        winner.last_seen is None
        or (loser.last_seen, loser.last_event_id or "")
        > (winner.last_seen, winner.last_event_id or "")
    ):
        winner.last_seen, winner.last_event_id = loser.last_seen, loser.last_event_id
        winner.last_channel = loser.last_channel


def _merge_path(a: list[PathStep], b: list[PathStep]) -> list[PathStep]:
    steps = {step.event_id: step for step in [*b, *a]}
    return sorted(steps.values(), key=lambda s: (s.event_time, s.event_id))
