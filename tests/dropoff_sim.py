"""Simulated daily windows of one funnel step for the drop-off detector: a drop-off rate
that wanders (a weekly pattern and beta-distributed day-to-day noise, as real steps do),
Poisson volumes, and optionally an incident that multiplies the step's conversion.

Usage:
    fired = firing_days(random.Random(1), volume=5, p0=0.15, days=130,
                        incident=Incident(start=90, days=21, conversion=0.4))
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.metrics.dropoff import DetectorConfig, StageHistory, WindowStat, observe
from schemas.outputs import DropoffAlert

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


#: The sessions' segments and entry channels, by share: independent of each other.
SEGMENTS = {"regulars": 0.4, "students": 0.3, "families": 0.2, "business": 0.1}
CHANNELS = {"web": 0.6, "email": 0.25, "ads": 0.15}

#: (dimension, value) -> (dropped, sessions) in one window
ByValue = dict[tuple[str, str], tuple[int, int]]


@dataclass(frozen=True)
class Incident:
    start: int  # day
    days: int
    conversion: float  # the step's conversion is multiplied by this
    segment: str | None = None  # ... in this segment only (None: in every one)


def windows_of(
    rng: random.Random, volume: float, p0: float, days: int, incident: Incident | None = None
) -> Iterator[tuple[WindowStat, ByValue]]:
    """`days` daily windows of a step with `volume` sessions a day and drop-off rate p0,
    each with its counts per segment and channel."""
    segments, segment_weights = list(SEGMENTS), list(SEGMENTS.values())
    channels, channel_weights = list(CHANNELS), list(CHANNELS.values())
    for day in range(days):
        p = _beta(rng, p0 + 0.03 * math.sin(2 * math.pi * day / 7), 0.02)
        hit = incident is not None and incident.start <= day < incident.start + incident.days
        n = _poisson(rng, volume)
        counts: dict[tuple[str, str], list[int]] = {}
        dropped = 0
        for segment, channel in zip(
            rng.choices(segments, segment_weights, k=n),
            rng.choices(channels, channel_weights, k=n),
            strict=True,
        ):
            rate = p
            if hit and incident is not None and incident.segment in (None, segment):
                rate = 1 - (1 - p) * incident.conversion
            lost = rng.random() < rate
            dropped += lost
            for key in (("segment", segment), ("channel", channel)):
                tally = counts.setdefault(key, [0, 0])
                tally[0] += lost
                tally[1] += 1
        by_value = {key: (d, total) for key, (d, total) in counts.items()}
        yield WindowStat(start=T0 + day * DAY, dropped=dropped, sessions=n), by_value


def days_of(
    rng: random.Random, volume: float, p0: float, days: int, incident: Incident | None = None
) -> Iterator[WindowStat]:
    """The windows of `windows_of`, without their counts per value."""
    for window, _ in windows_of(rng, volume, p0, days, incident):
        yield window


def episodes(
    rng: random.Random,
    volume: float,
    p0: float,
    days: int,
    incident: Incident | None = None,
    *,
    config: DetectorConfig | None = None,
) -> list[tuple[int, DropoffAlert]]:
    """The episodes the detector fired: (day, firing alert)."""
    config = config or DetectorConfig()
    history = StageHistory(stage="payment", next_stage="purchase", size_seconds=86400)
    fired = []
    for window, by_value in windows_of(rng, volume, p0, days, incident):
        alerts = observe(history, window, by_value, config)
        fired += [((window.start - T0).days, a) for a in alerts if a.status == "firing"]
    return fired


def firing_days(
    rng: random.Random,
    volume: float,
    p0: float,
    days: int,
    incident: Incident | None = None,
    *,
    config: DetectorConfig | None = None,
) -> list[int]:
    """The days on which the detector fired an episode."""
    return [day for day, _ in episodes(rng, volume, p0, days, incident, config=config)]


def _beta(rng: random.Random, mean: float, sd: float) -> float:
    mean = min(max(mean, 0.01), 0.99)
    k = mean * (1 - mean) / sd**2 - 1
    return rng.betavariate(mean * k, (1 - mean) * k)


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k, product = k + 1, product * rng.random()
    return k


def delay_table(trials: int = 100, seed: int = 1) -> list[tuple[int, float, int, int, float]]:
    """Per volume: (sessions a day, share caught, median and 90th percentile days to
    alert, false episodes per 90 days) for conversion falls of 0.3-0.6x lasting three
    weeks, at drop-off rates of 0.1-0.4."""
    rows = []
    for volume in (5, 10, 20, 50, 100, 500):
        rng = random.Random(seed)
        delays = []
        for _ in range(trials):
            incident = Incident(start=90, days=21, conversion=rng.uniform(0.3, 0.6))
            fired = firing_days(rng, volume, rng.uniform(0.1, 0.4), 111, incident)
            during = [d - incident.start for d in fired if incident.start <= d < 111]
            if during:
                delays.append(during[0])
        false = sum(len(firing_days(rng, volume, rng.uniform(0.1, 0.4), 180)) for _ in range(20))
        delays.sort()
        ninetieth = delays[int(0.9 * (len(delays) - 1))] if delays else -1
        median = delays[len(delays) // 2] if delays else -1
        rows.append((volume, len(delays) / trials, median, ninetieth, false / 40))
    return rows


def culprit_table(trials: int = 100, seed: int = 1) -> list[tuple[int, float, float]]:
    """Per volume: (sessions a day, share caught, share of those caught whose first
    contributor is the culprit) for incidents in one random segment only (see SEGMENTS),
    its conversion cut to 0.3-0.6 for three weeks."""
    rows = []
    for volume in (5, 20, 100, 500):
        rng = random.Random(seed)
        caught = named = 0
        for _ in range(trials):
            culprit = rng.choice(list(SEGMENTS))
            incident = Incident(90, 21, rng.uniform(0.3, 0.6), segment=culprit)
            fired = [
                alert
                for day, alert in episodes(rng, volume, rng.uniform(0.1, 0.4), 111, incident)
                if day >= incident.start
            ]
            if fired:
                caught += 1
                top = fired[0].contributors[:1]
                named += [(c.dimension, c.value) for c in top] == [("segment", culprit)]
        rows.append((volume, caught / trials, named / max(caught, 1)))
    return rows


if __name__ == "__main__":  # python -m tests.dropoff_sim: docs/alerting.md's tables
    print(
        "| sessions a day at the step | caught | median days to alert | 90 % within "
        "| false episodes per 90 days |"
    )
    print("| --- | --- | --- | --- | --- |")
    for volume, share, median, ninetieth, false in delay_table():
        print(f"| {volume} | {share:.0%} | {median} | {ninetieth} | {false:.2f} |")
    print()
    print("| sessions a day at the step | caught | culprit segment named first |")
    print("| --- | --- | --- |")
    for volume, share, named in culprit_table():
        print(f"| {volume} | {share:.0%} | {named:.0%} |")
