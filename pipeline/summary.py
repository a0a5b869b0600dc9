"""The live summary `journeys up` prints while it runs.

    collect(ask, window_size=3600, previous) -> Summary     # ask: SQL -> rows
    render(summary) -> a rich renderable

Every figure is read from ClickHouse, so it is what an analyst would see at that moment:
touchpoints stored per second, open sessions, customers per stage, the conversion of
each stage in the last window counted, and the drop-off alerts still firing; then whether
the worker keeps up (pipeline.health: ready or why not, its lag, its failed writes).
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pipeline.health import Readiness
from pipeline.query import Ask

# A live touchpoint has up to three rows (at arrival, provisional, final): count events.
TOTALS = """
SELECT (SELECT uniq(event_id) FROM touchpoints), (SELECT count() FROM dead_letters),
       (SELECT countIf(status != 'closed') FROM v_sessions),
       (SELECT max(event_time) FROM touchpoints)
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
    data_up_to: datetime | None = None  # the latest event time stored


def collect(
    ask: Ask, at: float, stages: Sequence[str], window_size: int, previous: Summary | None
) -> Summary:
    """Read the figures; the rate compares with `previous`."""
    [(touchpoints, dead, open_sessions, latest)] = ask(TOTALS)
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
        data_up_to=latest if touchpoints and isinstance(latest, datetime) else None,
    )


def render(
    summary: Summary,
    stages: Sequence[str],
    health: Readiness | None = None,
    map_url: str | None = None,
) -> RenderableType:
    """A compact block: totals, a stage table, alerts, the worker's health and where its
    journey map is."""
    pace = f"{summary.per_second:,.0f}/s" if summary.per_second is not None else "-"
    head = Text.assemble(
        ("journeys ", "bold"),
        f"touchpoints {summary.touchpoints:,} ({pace})   open sessions {summary.open_sessions:,}"
        f"   dead letters {summary.dead_letters:,}",
    )
    if summary.data_up_to is not None:
        head.append(
            f"\ndata up to {summary.data_up_to:%Y-%m-%d %H:%M:%S} UTC (latest event stored)"
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
    if map_url is not None:
        parts.append(Text(f"journey map: {map_url}"))
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


class SummaryDisplay:
    """Shows each summary: redrawn in place on a terminal (log lines scroll above it),
    one block after another otherwise (a log file, a pipe)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self._rerouted: list[tuple[logging.StreamHandler[Any], Any]] = []

    def show(self, renderable: RenderableType) -> None:
        if not self.console.is_terminal:
            self.console.print(renderable)
            return
        if self.live is None:
            self.live = Live(
                console=self.console, auto_refresh=False, redirect_stdout=True, redirect_stderr=True
            )
            streams = sys.stdout, sys.stderr
            self.live.start()
            self._reroute_logs(streams)
            atexit.register(self.close)
        self.live.update(renderable, refresh=True)

    def close(self) -> None:
        """Leave the last summary on screen and give the terminal back."""
        for handler, stream in self._rerouted:
            handler.setStream(stream)
        self._rerouted.clear()
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _reroute_logs(self, streams: tuple[Any, Any]) -> None:
        """Handlers writing to the terminal write through Live's proxies from now on
        (they hold the streams they were made with), so the summary stays below them."""
        proxies = {id(streams[0]): sys.stdout, id(streams[1]): sys.stderr}
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in proxies:
                original = handler.setStream(proxies[id(handler.stream)])
                self._rerouted.append((handler, original))
