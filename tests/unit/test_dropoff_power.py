"""The drop-off detector on simulated daily windows of one step (tests/dropoff_sim.py):
it catches a conversion fall at every volume from 5 to 500 sessions a day, and raises at
most one false episode per 90 days on steps without incidents. docs/alerting.md has the
detection delays these runs show."""

from __future__ import annotations

import random
import re
import statistics

import pytest

from pipeline.metrics.dropoff import DetectorConfig, StageHistory, WindowStat, observe
from tests.dropoff_sim import DAY, SEGMENTS, T0, Incident, days_of, episodes, firing_days
from tests.support import REPO

pytestmark = pytest.mark.unit

VOLUMES = (5, 20, 100, 500)


@pytest.mark.parametrize("p0", [0.15, 0.5])
@pytest.mark.parametrize("volume", VOLUMES)
def test_at_most_one_false_episode_per_90_days(volume: int, p0: float) -> None:
    rng = random.Random(volume)
    streams, days = 10, 180
    episodes = sum(len(firing_days(rng, volume, p0, days)) for _ in range(streams))
    assert episodes / (streams * days / 90) <= 1.0, episodes


def stated_delays() -> dict[int, int]:
    """docs/alerting.md's table: sessions a day at the stage -> 90 % alerted within days."""
    text = (REPO / "docs" / "alerting.md").read_text()
    rows = re.findall(r"^\| (\d+) \| [\d.]+ % \| \d+ \| (\d+) \|", text, re.MULTILINE)
    assert len(rows) >= 5, "docs/alerting.md's delay table"
    return {int(volume): int(days) for volume, days in rows}


def test_nine_in_ten_incidents_are_caught_within_the_delay_the_docs_state() -> None:
    stated = stated_delays()
    rng = random.Random(7)
    in_time, delays = 0, []
    trials = 80
    for _ in range(trials):
        volume = round(5 * 100 ** rng.random())  # 5 to 500 sessions a day, log-uniform
        incident = Incident(start=90, days=21, conversion=rng.uniform(0.3, 0.6))
        fired = firing_days(rng, volume, rng.uniform(0.1, 0.4), 130, incident)
        during = [day - incident.start for day in fired if day >= incident.start]
        # The delay stated for the nearest volume the table lists at or below this one.
        allowed = stated[max(v for v in stated if v <= volume)]
        if during and during[0] <= allowed:
            in_time += 1
        delays += during[:1]
    assert in_time >= 0.9 * trials, in_time
    assert statistics.median(delays) <= 2, delays


def test_the_culprit_segment_is_named_first_when_one_segment_loses_conversions() -> None:
    rng = random.Random(5)
    caught, first = 0, 0
    for _ in range(100):
        volume = round(5 * 100 ** rng.random())
        culprit = rng.choice(list(SEGMENTS))
        incident = Incident(90, 21, rng.uniform(0.3, 0.6), segment=culprit)
        fired = [
            alert
            for day, alert in episodes(rng, volume, rng.uniform(0.1, 0.4), 130, incident)
            if incident.start <= day < incident.start + incident.days
        ]
        if fired:
            caught += 1
            top = fired[0].contributors[0]
            first += (top.dimension, top.value) == ("segment", culprit)
    # A segment of a tenth of a quiet step's sessions can lose half its conversions
    # unseen: its share of the step's rate is within the step's own noise.
    assert caught >= 30, caught
    assert first >= 0.9 * caught, (first, caught)


def test_evidence_across_days_catches_what_no_single_day_shows() -> None:
    # Five sessions a day: no window reaches the per-window test's volume.
    incident = Incident(start=60, days=21, conversion=0.4)
    without = DetectorConfig(evidence_threshold=float("inf"))
    assert firing_days(random.Random(3), 5, 0.15, 90, incident, config=without) == []
    fired = firing_days(random.Random(3), 5, 0.15, 90, incident)
    assert fired and incident.start <= fired[0] < incident.start + 14, fired


def test_a_quiet_day_does_not_resolve_an_episode_only_evidence_of_recovery_does() -> None:
    rng = random.Random(11)
    history = StageHistory(stage="payment", next_stage="purchase", size_seconds=86400)
    incident = Incident(start=40, days=30, conversion=0.3)
    statuses: list[tuple[int, str]] = []
    for window in days_of(rng, 5, 0.15, 100, incident):
        for alert in observe(history, window, {}, DetectorConfig()):
            statuses.append(((window.start - T0).days, alert.status))
    [(fired, firing), (resolved, resolution)] = statuses
    assert (firing, resolution) == ("firing", "resolved")
    assert 40 <= fired < 50, statuses  # within days of the start, at five sessions a day
    assert resolved >= 70, "no resolution while the incident lasts"
    assert resolved < 100, "resolved once the rate is back"
    empty = WindowStat(start=T0 + 100 * DAY, dropped=0, sessions=0)
    assert observe(history, empty, {}, DetectorConfig()) == []


def test_an_evidence_alert_reports_the_stretch_it_saw() -> None:
    history = StageHistory(stage="payment", next_stage="purchase", size_seconds=86400)
    for day in range(30):  # 10 sessions a day, 2 drop off
        observe(
            history, WindowStat(start=T0 + day * DAY, dropped=2, sessions=10), {}, DetectorConfig()
        )
    alerts = []
    day = 30
    while not alerts:  # then 7 of 10 drop off
        alerts = observe(
            history, WindowStat(start=T0 + day * DAY, dropped=7, sessions=10), {}, DetectorConfig()
        )
        day += 1
    [alert] = alerts
    assert alert.status == "firing" and alert.baseline_rate == pytest.approx(0.2)
    assert alert.p_value is not None and alert.p_value < 0.001
    assert alert.sessions == 10 and day - 30 <= 3
