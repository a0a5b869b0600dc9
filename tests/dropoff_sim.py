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

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Incident:
    start: int  # day
    days: int
    conversion: float  # the step's conversion is multiplied by this


def days_of(
    rng: random.Random, volume: float, p0: float, days: int, incident: Incident | None = None
) -> Iterator[WindowStat]:
    """`days` daily windows of a step with `volume` sessions a day and drop-off rate p0."""
    for day in range(days):
        p = _beta(rng, p0 + 0.03 * math.sin(2 * math.pi * day / 7), 0.02)
        if incident is not None and incident.start <= day < incident.start + incident.days:
            p = 1 - (1 - p) * incident.conversion
        n = _poisson(rng, volume)
        dropped = sum(rng.random() < p for _ in range(n))
        yield WindowStat(start=T0 + day * DAY, dropped=dropped, sessions=n)


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
    config = config or DetectorConfig()
    history = StageHistory(stage="payment", next_stage="purchase", size_seconds=86400)
    fired = []
    for window in days_of(rng, volume, p0, days, incident):
        alerts = observe(history, window, {}, config)
        fired += [(window.start - T0).days for a in alerts if a.status == "firing"]
    return fired


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


if __name__ == "__main__":  # python -m tests.dropoff_sim: docs/alerting.md's table
    print(
        "| sessions a day at the step | caught | median days to alert | 90 % within "
        "| false episodes per 90 days |"
    )
    print("| --- | --- | --- | --- | --- |")
    for volume, share, median, ninetieth, false in delay_table():
        print(f"| {volume} | {share:.0%} | {median} | {ninetieth} | {false:.2f} |")
