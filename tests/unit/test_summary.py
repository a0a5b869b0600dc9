"""The live summary of `journeys up`: rates, stage order, alerts, rendering."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from rich.console import Console

from pipeline.summary import (
    FIRING,
    LAST_WINDOW,
    STAGES,
    TOTALS,
    Summary,
    SummaryDisplay,
    collect,
    render,
)

pytestmark = pytest.mark.unit

STAGE_ORDER = ("awareness", "consideration", "decision", "retention", "advocacy")
WINDOW = datetime(2026, 3, 2, 14)


def answers(touchpoints: int, firing: bool) -> dict[str, list[list[object]]]:
    return {
        TOTALS: [[touchpoints, 3, 12, datetime(2026, 3, 2, 15, 4, 5)]],
        STAGES: [["decision", 5], ["awareness", 40], ["(none)", 2]],
        LAST_WINDOW.format(size=3600): [
            [WINDOW, "decision", 8, 2],
            [WINDOW, "awareness", 10, 30],
            [WINDOW, "retention", 0, 0],
        ],
        FIRING: ([["decision", "retention", 0.7, 0.2, datetime(2026, 3, 2, 13)]] if firing else []),
    }


def test_collect_computes_the_pace_and_orders_steps_by_stage() -> None:
    first = collect(answers(100, False).__getitem__, 1000.0, STAGE_ORDER, 3600, None)
    assert first.per_second is None
    second = collect(answers(400, True).__getitem__, 1010.0, STAGE_ORDER, 3600, first)
    assert second.per_second == 30.0
    assert (second.touchpoints, second.dead_letters, second.open_sessions) == (400, 3, 12)
    assert [s.stage for s in second.conversion] == ["awareness", "decision", "retention"]
    assert [s.rate for s in second.conversion] == [0.25, 0.8, None]
    assert second.customers == {"decision": 5, "awareness": 40, "(none)": 2}
    assert second.window_start == WINDOW
    assert second.firing == [
        "decision -> retention: 70% dropping off (baseline 20%) since 2026-03-02 13:00"
    ]


def test_render_shows_every_stage_the_window_and_alerts() -> None:
    summary = collect(answers(400, True).__getitem__, 1.0, STAGE_ORDER, 3600, None)
    console = Console(width=100, record=True)
    console.print(render(summary, STAGE_ORDER))
    text = console.export_text()
    assert "touchpoints 400 (-)   open sessions 12   dead letters 3" in text
    assert "data up to 2026-03-02 15:04:05 UTC" in text
    assert "window 2026-03-02 14:00" in text
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert lines["awareness"] == ["40", "25%", "of", "40"]
    assert lines["decision"] == ["5", "80%", "of", "10"]
    assert lines["advocacy"] == ["0", "-"]
    assert "ALERT decision -> retention" in text
    quiet = Summary(at=0.0, touchpoints=0, dead_letters=0, open_sessions=0, per_second=None)
    console = Console(width=100, record=True)
    console.print(render(quiet, STAGE_ORDER))
    assert "no drop-off alert firing" in console.export_text()


def test_on_a_terminal_each_summary_replaces_the_last_and_elsewhere_follows_it() -> None:
    summary = collect(answers(400, True).__getitem__, 1.0, STAGE_ORDER, 3600, None)
    piped = Console(file=io.StringIO(), width=100, force_terminal=False)
    shown = SummaryDisplay(piped)
    shown.show(render(summary, STAGE_ORDER))
    shown.show(render(summary, STAGE_ORDER))
    text = piped.file.getvalue()  # type: ignore[attr-defined]
    assert text.count("journeys touchpoints 400") == 2 and "\x1b[" not in text
    terminal = Console(file=io.StringIO(), width=100, force_terminal=True)
    redrawn = SummaryDisplay(terminal)
    redrawn.show(render(summary, STAGE_ORDER))
    first = terminal.file.getvalue()  # type: ignore[attr-defined]
    redrawn.show(render(summary, STAGE_ORDER))
    again = terminal.file.getvalue()[len(first) :]  # type: ignore[attr-defined]
    plain = Console(width=100, record=True, file=io.StringIO())
    plain.print(render(summary, STAGE_ORDER))
    height = len(plain.export_text().splitlines())
    assert again.count("\x1b[1A") >= height - 1  # back up over the last block, then draw
    redrawn.close()
    assert redrawn.live is None
