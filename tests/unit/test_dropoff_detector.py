"""The drop-off detector's statistics and episodes, on known inputs."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.metrics.dropoff import (
    DetectorConfig,
    StageHistory,
    WindowStat,
    assess_window,
    contributors,
    observe,
)

pytestmark = pytest.mark.unit

HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = DetectorConfig()


def windows(rates: list[float], sessions: int = 100) -> list[WindowStat]:
    return [
        WindowStat(start=T0 + i * HOUR, dropped=round(r * sessions), sessions=sessions)
        for i, r in enumerate(rates)
    ]


def history(stage: str = "decision") -> StageHistory:
    return StageHistory(stage=stage, next_stage="retention", size_seconds=3600)


def test_z_and_p_value_against_a_flat_baseline() -> None:
    base = windows([0.2] * 10)
    calm = assess_window(30, 100, base, CONFIG)
    assert calm is not None
    assert calm.baseline == 0.2
    assert calm.z == pytest.approx(2.5)  # (0.3 - 0.2) / sqrt(0.2 * 0.8 / 100)
    assert calm.p_value == pytest.approx(0.5 * math.erfc(2.5 / math.sqrt(2)))
    assert not calm.anomalous  # p = 0.0062 is not below 0.001
    spike = assess_window(40, 100, base, CONFIG)
    assert spike is not None and spike.z == pytest.approx(5.0) and spike.anomalous


def test_the_baselines_own_spread_widens_the_test() -> None:
    base = windows([0.18, 0.2, 0.22] * 4)  # median 0.2, MAD 0.02
    result = assess_window(30, 100, base, CONFIG)
    assert result is not None
    expected = 0.1 / math.sqrt(0.2 * 0.8 / 100 + (1.4826 * 0.02) ** 2)
    assert result.z == pytest.approx(expected)


def test_too_little_volume_or_history_decides_nothing() -> None:
    assert assess_window(20, 29, windows([0.2] * 10), CONFIG) is None  # below min_volume
    assert assess_window(90, 100, windows([0.2] * 5), CONFIG) is None  # too little baseline


def test_an_incident_raises_one_alert_and_resolves_once() -> None:
    rng = random.Random(5)
    stage = history()
    raised = []
    timeline = [0.2] * 48 + [0.7] * 6 + [0.2] * 10
    for i, rate in enumerate(timeline):
        sessions = 200
        dropped = sum(rng.random() < rate for _ in range(sessions))
        window = WindowStat(start=T0 + i * HOUR, dropped=dropped, sessions=sessions)
        raised += [(i, a.status) for a in observe(stage, window, {}, CONFIG)]
    assert raised == [(48, "firing"), (55, "resolved")]  # two normal windows after 53
    assert stage.episode is None


def test_no_new_episode_during_the_cooldown() -> None:
    stage = history()
    statuses = []
    timeline = [0.2] * 24 + [0.8] + [0.2, 0.2] + [0.8] + [0.2] * 8 + [0.8]
    for i, rate in enumerate(timeline):
        window = WindowStat(start=T0 + i * HOUR, dropped=round(rate * 100), sessions=100)
        statuses += [(i, a.status) for a in observe(stage, window, {}, CONFIG)]
    # Fires at 24, resolves at 26; 27 is inside the 3-window cooldown; 36 fires again.
    assert statuses == [(24, "firing"), (26, "resolved"), (36, "firing")]


def test_daily_seasonality_is_not_an_alert() -> None:
    stage = history()
    alerts = []
    for i in range(24 * 9):  # nine days; at 03:00 the drop-off is always 0.6
        rate = 0.6 if i % 24 == 3 else 0.2
        window = WindowStat(start=T0 + i * HOUR, dropped=round(rate * 100), sessions=100)
        alerts += observe(stage, window, {}, CONFIG)
    # Only the first days alert at 03:00 (until a week of history shows it is normal).
    assert all(a.window_start < T0 + timedelta(days=7) for a in alerts)
    late = WindowStat(start=T0 + timedelta(days=9, hours=3), dropped=60, sessions=100)
    assert not [a for a in observe(stage, late, {}, CONFIG) if a.status == "firing"]


def test_an_alert_says_what_an_on_call_person_needs() -> None:
    stage = history()
    for window in windows([0.2] * 24):
        observe(stage, window, {}, CONFIG)
    by_value = {("channel", "web"): (60, 70), ("channel", "app"): (10, 30)}
    spike = WindowStat(start=T0 + 24 * HOUR, dropped=70, sessions=100)
    (alert,) = observe(stage, spike, by_value, CONFIG)
    assert (alert.stage, alert.next_stage, alert.status, alert.severity) == (
        "decision",
        "retention",
        "firing",
        "critical",
    )
    assert (alert.observed_rate, alert.baseline_rate, alert.sessions, alert.dropped) == (
        0.7,
        0.2,
        100,
        70,
    )
    assert alert.window_end - alert.window_start == HOUR
    assert alert.p_value is not None and alert.p_value < 1e-6
    assert [(c.value, c.excess) for c in alert.contributors] == [("web", 46.0), ("app", 4.0)]


def test_contributors_rank_by_lost_conversions_beyond_their_share_of_sessions() -> None:
    counts = {
        # Nearly every session is on the web, so nearly every loss is: no explanation.
        ("channel", "web"): (62, 190),  # lost 62 - 190 * 0.2 = 24: all, of 95 % of sessions
        ("channel", "email"): (2, 10),  # at the baseline: not a contributor
        # A fifth of the sessions lost nearly all the conversions: the culprit.
        ("segment", "students"): (30, 40),  # lost 22 of 24, of 20 % of sessions
        ("segment", "regulars"): (34, 160),  # lost 2 of 24, of 80 %
    }
    ranked = [
        (c.dimension, c.value, c.excess, c.share, c.sessions_share)
        for c in contributors(counts, 0.2)
    ]
    assert ranked == [
        ("segment", "students", 22.0, 0.9167, 0.2),
        ("channel", "web", 24.0, 1.0, 0.95),
        ("segment", "regulars", 2.0, 0.0833, 0.8),
    ]
