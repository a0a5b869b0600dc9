"""Merging the partitions' window reports, and running the detector on final windows.

    WindowReport (each partition, each tick) -> merged counts of windows every partition
    has finished -> drop-off rate per stage (and funnel step) -> detector -> DropoffAlert
                                                                      and StepWindow

A window of a size is final once every partition has either reported it (its
`emitted_until` is past the window's end) or has never seen data. Windows finish in
order, so each stage's history sees them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

from pipeline.metrics.dropoff import DetectorConfig, StageHistory, WindowStat, judge
from pipeline.metrics.windows import WindowReport
from schemas.outputs import DropoffAlert, StepWindow


@dataclass
class Judged:
    """What the windows a report made final gave: alerts, and each step's judgement."""

    alerts: list[DropoffAlert] = field(default_factory=list)
    windows: list[StepWindow] = field(default_factory=list)


class SizeState(BaseModel):
    """The merger's state for one window size (a Faust table value, JSON)."""

    size_seconds: int
    partitions_seen: dict[int, bool] = Field(default_factory=dict)  # partition -> has data
    emitted_until: dict[int, datetime] = Field(default_factory=dict)
    pending: dict[datetime, dict[int, list[tuple[str, str, str, str, int]]]] = Field(
        default_factory=dict
    )  # window start -> partition -> counts
    final_until: datetime | None = None
    stages: dict[str, StageHistory] = Field(default_factory=dict)


def merge_report(
    state: SizeState,
    report: WindowReport,
    partitions: int,
    stages: tuple[str, ...],
    config: DetectorConfig,
    *,
    funnel: tuple[str, ...] = (),
) -> Judged:
    """Take one partition's report; the alerts of the windows it made final, and how
    each was judged (of every stage but the last, and of every funnel step but the last)."""
    size = state.size_seconds
    state.partitions_seen[report.partition] = report.has_data
    until = report.emitted_until.get(size)
    if until is not None:
        state.emitted_until[report.partition] = until
    for partial in report.partials:
        if partial.size_seconds != size:
            continue
        if state.final_until is not None and partial.window_start < state.final_until:
            continue  # a late re-version: counted in ClickHouse, too late to alert on
        state.pending.setdefault(partial.window_start, {})[partial.partition] = partial.counts
    judged = Judged()
    while state.pending:
        start = min(state.pending)
        end = start.timestamp() + size
        if len(state.partitions_seen) < partitions or not all(
            not has_data or (p in state.emitted_until and state.emitted_until[p].timestamp() >= end)
            for p, has_data in state.partitions_seen.items()
        ):
            break
        chains = (stages, funnel)
        _final(state, start, state.pending.pop(start), chains, config, into=judged)
        state.final_until = datetime.fromtimestamp(end, tz=start.tzinfo)
    return judged


def _final(
    state: SizeState,
    start: datetime,
    by_partition: dict[int, list[tuple[str, str, str, str, int]]],
    chains: tuple[tuple[str, ...], ...],
    config: DetectorConfig,
    *,
    into: Judged,
) -> None:
    merged: dict[tuple[str, str, str, str], int] = {}
    for counts in by_partition.values():
        for dimension, value, stage, metric, count in counts:
            key = (dimension, value, stage, metric)
            merged[key] = merged.get(key, 0) + count
    steps = [(chain[rank], chain[rank + 1]) for chain in chains for rank in range(len(chain) - 1)]
    for stage, next_stage in steps:  # the last of a chain has no drop-off
        history = state.stages.setdefault(
            stage,
            StageHistory(stage=stage, next_stage=next_stage, size_seconds=state.size_seconds),
        )
        dropped = merged.get(("all", "all", stage, "dropped_off"), 0)
        sessions = dropped + merged.get(("all", "all", stage, "passed"), 0)
        by_value = {
            (dimension, value): (
                merged.get((dimension, value, stage, "dropped_off"), 0),
                merged.get((dimension, value, stage, "dropped_off"), 0)
                + merged.get((dimension, value, stage, "passed"), 0),
            )
            for dimension, value, s, _ in merged
            if s == stage and dimension != "all"
        }
        window = WindowStat(start=start, dropped=dropped, sessions=sessions)
        alerts, step_window = judge(history, window, by_value, config)
        into.alerts.extend(alerts)
        into.windows.append(step_window)
