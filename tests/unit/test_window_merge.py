"""Merging the partitions' window reports: a window is final only when every partition
has finished it (or never saw data); late re-versions do not alert again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.metrics.dropoff import DetectorConfig
from pipeline.metrics.merge import SizeState, merge_report
from pipeline.metrics.windows import PartialCounts, WindowReport

pytestmark = pytest.mark.unit

HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
STAGES = ("awareness", "decision", "retention")
CONFIG = DetectorConfig(min_volume=10, min_baseline=3)


def report(
    partition: int, window: int, dropped: int, passed: int, version: int = 1
) -> WindowReport:
    start = T0 + window * HOUR
    counts = [
        ("all", "all", "decision", "dropped_off", dropped),
        ("all", "all", "decision", "passed", passed),
        ("channel", "web", "decision", "dropped_off", dropped),
        ("channel", "web", "decision", "passed", passed),
    ]
    return WindowReport(
        partition=partition,
        has_data=True,
        emitted_until={3600: start + HOUR},
        partials=[PartialCounts(partition=partition, size_seconds=3600, window_start=start,
                                version=version, counts=counts)],
    )  # fmt: skip


def merge(state: SizeState, *reports: WindowReport, partitions: int = 2) -> list[str]:
    alerts = []
    for item in reports:
        alerts += merge_report(state, item, partitions, STAGES, CONFIG).alerts
    return [f"{a.status}@{a.window_start:%H}" for a in alerts]


def test_a_window_waits_for_every_partition_then_counts_their_sum() -> None:
    state = SizeState(size_seconds=3600)
    merge(state, report(0, 0, 1, 9))
    assert state.final_until is None and T0 in state.pending  # partition 1 not heard yet
    merge(state, report(1, 0, 2, 8))
    assert state.final_until == T0 + HOUR and not state.pending
    (window,) = state.stages["decision"].windows
    assert (window.dropped, window.sessions) == (3, 20)
    assert set(state.stages) == {"awareness", "decision"}  # the last stage has no drop-off


def test_a_partition_without_data_does_not_hold_windows_back() -> None:
    state = SizeState(size_seconds=3600)
    idle = WindowReport(partition=1, has_data=False, emitted_until={}, partials=[])
    merge(state, idle, report(0, 0, 1, 9))
    assert state.final_until == T0 + HOUR


def test_a_spike_in_the_merged_counts_alerts_once_and_late_versions_do_not() -> None:
    state = SizeState(size_seconds=3600)
    normal = [r for w in range(4) for r in (report(0, w, 2, 18), report(1, w, 2, 18))]
    assert merge(state, *normal) == []
    spike = [report(0, 4, 15, 5), report(1, 4, 14, 6)]
    assert merge(state, *spike) == ["firing@04"]
    alert_window = state.stages["decision"].windows[-1]
    assert (alert_window.dropped, alert_window.sessions) == (29, 40)
    # A late re-version of a final window changes ClickHouse's counts, not the alerts.
    assert merge(state, report(0, 4, 16, 5, version=2)) == []
    assert state.stages["decision"].windows[-1].dropped == 29


def test_funnel_steps_are_watched_like_stages_with_the_next_step_named() -> None:
    state = SizeState(size_seconds=3600)
    funnel = ("cart", "decision_step", "paid")
    raised = []
    for window in range(8):
        spike = window == 7
        counts = [
            ("all", "all", "decision_step", "dropped_off", 45 if spike else 5),
            ("all", "all", "decision_step", "passed", 5 if spike else 45),
        ]
        start = T0 + window * HOUR
        item = WindowReport(
            partition=0, has_data=True, emitted_until={3600: start + HOUR},
            partials=[PartialCounts(partition=0, size_seconds=3600, window_start=start,
                                    version=1, counts=counts)],
        )  # fmt: skip
        judged = merge_report(state, item, 1, STAGES, CONFIG, funnel=funnel)
        raised += judged.alerts
        steps = [(w.stage, w.window_start, w.sessions) for w in judged.windows]
        assert steps == [
            (name, start, sessions)
            for name, sessions in (("awareness", 0), ("decision", 0), ("cart", 0))
        ] + [("decision_step", start, 50)]
    assert set(state.stages) == {"awareness", "decision", "cart", "decision_step"}
    assert [(a.stage, a.next_stage, a.status) for a in raised] == [
        ("decision_step", "paid", "firing")
    ]
    (last,) = [w for w in judged.windows if w.stage == "decision_step"]
    assert last.anomalous and last.alert_id == raised[0].alert_id
    assert (last.observed_rate, last.baseline_rate) == (0.9, 0.1)
