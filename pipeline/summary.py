"""The live summary `journeys up` prints while it runs.

    collect(ask, window_size=3600, previous) -> Summary     # ask: SQL -> rows
    render(summary) -> a rich renderable

Every figure is read from ClickHouse, so it is what an analyst would see at that moment:
touchpoints stored per second, open sessions, customers per stage, the conversion of
each stage in the last window counted, and the drop-off alerts still firing; then whether
the worker keeps up (pipeline.health: ready or why not, its lag, its failed writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pipeline.health import Readiness
from pipeline.query import Ask

# A live touchpoint has up to three rows (at arrival, provisional, final): count events.
TOTALS = """
SELECT (SELECT uniq(event_id) FROM touchpoints), (SELECT count() FROM dead_letters),
       (SELECT countIf(status != 'closed') FROM v_sessions)
"""
STAGES = "SELECT ifNull(stage, '(none)'), count() FROM v_journeys GROUP BY 1"
LAST_WINDOW = """
SELECT window_start, stage, passed, dropped_off FROM conversion_counts
WHERE window_size_seconds = {size} AND dimension = 'all'
  AND window_start = (SELECT max(window_start) FROM conversion_partials
                      WHERE window_size_seconds = {size})
"""
FIRING = """
SELECT any(stage), any(next_stage), max(observed_rate), any(baseline_rate), min(window_start)
FROM alerts FINAL GROUP BY alert_id HAVING countIf(status = 'resolved') = 0
"""


@dataclass(frozen=True)
class StepConversion:
    """How many sessions moved on from a stage in the window, and how many stopped."""

    stage: str
    passed: int
    dropped: int

    @property
    def rate(self) -> float | None:
        total = self.passed + self.dropped
        return self.passed / total if total else None


@dataclass(frozen=True)
class Summary:
    """One look at the pipeline's output."""

    at: float  # wall clock (time.time()) of the look
    touchpoints: int
    dead_letters: int
    open_sessions: int
    per_second: float | None  # touchpoints stored per second since the previous look
    customers: dict[str, int] = field(default_factory=dict)  # by current stage
    window_start: datetime | None = None
    conversion: list[StepConversion] = field(default_factory=list)
    firing: list[str] = field(default_factory=list)  # one line per alert still firing


def collect(
    ask: Ask, at: float, stages: Sequence[str], window_size: int, previous: Summary | None
) -> Summary:
    """Read the figures; the rate compares with `previous`."""
    [(touchpoints, dead, open_sessions)] = ask(TOTALS)
    rate = None
    if previous is not None and at > previous.at:
        rate = (int(touchpoints) - previous.touchpoints) / (at - previous.at)
    customers = {str(stage): int(n) for stage, n in ask(STAGES)}
    order = {stage: i for i, stage in enumerate(stages)}
    window_rows = ask(LAST_WINDOW.format(size=int(window_size)))
    conversion = sorted(
        (StepConversion(str(stage), int(p), int(d)) for _, stage, p, d in window_rows),
        key=lambda step: order.get(step.stage, len(order)),
    )
    firing = [
        f"{stage} -> {next_stage or 'end'}: {observed:.0%} dropping off "
        f"(baseline {baseline:.0%}) since {since:%Y-%m-%d %H:%M}"
        for stage, next_stage, observed, baseline, since in ask(FIRING)
    ]
    return Summary(
        at=at,
        touchpoints=int(touchpoints),
        dead_letters=int(dead),
        open_sessions=int(open_sessions),
        per_second=rate,
        customers=customers,
        window_start=window_rows[0][0] if window_rows else None,
        conversion=[step for step in conversion if step.stage in order],
        firing=firing,
    )


def render(
    summary: Summary, stages: Sequence[str], health: Readiness | None = None
) -> RenderableType:
    """A compact block: totals, a stage table, alerts, and the worker's health."""
    pace = f"{summary.per_second:,.0f}/s" if summary.per_second is not None else "-"
    head = Text.assemble(
        ("journeys ", "bold"),
        f"touchpoints {summary.touchpoints:,} ({pace})   open sessions {summary.open_sessions:,}"
        f"   dead letters {summary.dead_letters:,}",
    )
    window = f"{summary.window_start:%Y-%m-%d %H:%M}" if summary.window_start else "none yet"
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("stage")
    table.add_column("customers now", justify="right")
    table.add_column(f"moved on, window {window}", justify="right")
    steps = {step.stage: step for step in summary.conversion}
    for stage in stages:
        step = steps.get(stage)
        moved = (
            f"{step.rate:.0%} of {step.passed + step.dropped:,}"
            if step is not None and step.rate is not None
            else "-"
        )
        table.add_row(stage, f"{summary.customers.get(stage, 0):,}", moved)
    alerts = (
        Text("\n".join(f"ALERT {line}" for line in summary.firing), style="bold red")
        if summary.firing
        else Text("no drop-off alert firing", style="green")
    )
    parts: list[RenderableType] = [head, table, alerts]
    if health is not None:
        parts.append(render_health(health))
    return Group(*parts)


def render_health(health: Readiness) -> Text:
    """One line: ready, or not and why; the lag and the failed writes either way."""
    figures = f"lag {health.lag:,} records, {health.write_failures:,} failed writes"
    if health.ready:
        return Text(f"worker ready: {figures}", style="green")
    failure = f"; last: {health.last_write_failure}" if health.last_write_failure else ""
    return Text(
        f"worker NOT READY: {'; '.join(health.reasons)} ({figures}{failure})", style="bold red"
    )
