"""Heuristic attribution: a conversion's credit shared among the touches of its path.

A path is the customer's touches before the conversion, oldest first (ties by event id).
Each model gives every touch a weight; the weights sum to 1. Credits are Decimals that sum
exactly to the conversion (1, in millionths) and to its revenue (in ten-thousandths): the
rounding remainder goes to the touches with the largest remainders (largest remainder
apportionment), so per-channel totals add up to the conversions and revenue stored.

    path = [Touch("e1", t1, "ads", "spring"), Touch("e2", t2, "email", None)]
    credits = credit(path, conversion_at, Decimal("129.00"), Model.LINEAR)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

#: Quanta of a conversion's credit and of its revenue's.
CONVERSION_QUANTUM = Decimal("0.000001")
REVENUE_QUANTUM = Decimal("0.0001")


class Model(enum.StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LAST_NON_DIRECT = "last_non_direct"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    POSITION_BASED = "position_based"


@dataclass(frozen=True)
class Touch:
    """One touchpoint of a conversion path."""

    event_id: str
    at: datetime
    channel: str
    campaign: str | None = None
    source: str | None = None

    @property
    def direct(self) -> bool:
        """A visit to the site with no campaign or source behind it."""
        return self.channel == "web" and self.campaign is None and self.source is None


@dataclass(frozen=True)
class AttributionConfig:
    """The paths' extent and the models' parameters (defaults of JOURNEYS_ATTRIBUTION_*)."""

    lookback: timedelta = timedelta(days=30)
    since_previous_conversion: bool = False  # paths start after the customer's last one
    half_life: timedelta = timedelta(days=7)
    first_share: float = 0.4  # position based: the first touch's share ...
    last_share: float = 0.4  # ... and the last's; the middle touches share the rest


@dataclass(frozen=True)
class Credit:
    """A touch's share of one conversion and of its revenue."""

    touch: Touch
    conversions: Decimal
    revenue: Decimal


def path_within(
    touches: Sequence[Touch], converted_at: datetime, lookback: timedelta, since: datetime | None
) -> list[Touch]:
    """The touches of a conversion's path: at or before it, no older than `lookback`, and
    after `since` (the previous conversion) when given; oldest first."""
    earliest = converted_at - lookback
    return sorted(
        (
            t
            for t in touches
            if earliest <= t.at <= converted_at and (since is None or t.at > since)
        ),
        key=lambda t: (t.at, t.event_id),
    )


def weights(
    path: Sequence[Touch],
    converted_at: datetime,
    model: Model,
    settings: AttributionConfig = AttributionConfig(),
) -> list[float]:
    """Each touch's weight under `model` (summing to 1); empty for an empty path."""
    if not path:
        return []
    return _WEIGHTS[model](path, converted_at, settings)


def _first(path: Sequence[Touch], _at: datetime, _settings: AttributionConfig) -> list[float]:
    return [1.0] + [0.0] * (len(path) - 1)


def _last(path: Sequence[Touch], _at: datetime, _settings: AttributionConfig) -> list[float]:
    return [0.0] * (len(path) - 1) + [1.0]


def _last_non_direct(
    path: Sequence[Touch], _at: datetime, _settings: AttributionConfig
) -> list[float]:
    """The last touch that is not a direct visit (the last touch when all are)."""
    chosen = max((i for i, t in enumerate(path) if not t.direct), default=len(path) - 1)
    return [1.0 if i == chosen else 0.0 for i in range(len(path))]


def _linear(path: Sequence[Touch], _at: datetime, _settings: AttributionConfig) -> list[float]:
    return [1.0 / len(path)] * len(path)


def _time_decay(path: Sequence[Touch], at: datetime, settings: AttributionConfig) -> list[float]:
    """Halved for every `half_life` between the touch and the conversion."""
    half_life = settings.half_life.total_seconds()
    raw = [math.pow(2.0, -(at - t.at).total_seconds() / half_life) for t in path]
    total = sum(raw)
    return [r / total for r in raw]


def _position_based(
    path: Sequence[Touch], _at: datetime, settings: AttributionConfig
) -> list[float]:
    """First and last their shares, the middle touches the rest evenly (one touch: all;
    two: half each)."""
    n = len(path)
    if n <= 2:
        return [1.0 / n] * n
    first, last = settings.first_share, settings.last_share
    return [first] + [(1.0 - first - last) / (n - 2)] * (n - 2) + [last]


_WEIGHTS = {
    Model.FIRST_TOUCH: _first,
    Model.LAST_TOUCH: _last,
    Model.LAST_NON_DIRECT: _last_non_direct,
    Model.LINEAR: _linear,
    Model.TIME_DECAY: _time_decay,
    Model.POSITION_BASED: _position_based,
}


def credit(
    path: Sequence[Touch],
    converted_at: datetime,
    revenue: Decimal,
    model: Model,
    settings: AttributionConfig = AttributionConfig(),
) -> list[Credit]:
    """Each touch's credit for one conversion worth `revenue`, summing exactly to 1 and
    to `revenue`."""
    shares = weights(path, converted_at, model, settings)
    conversions = apportion(Decimal(1), shares, CONVERSION_QUANTUM)
    money = apportion(revenue, shares, REVENUE_QUANTUM)
    return [Credit(t, c, m) for t, c, m in zip(path, conversions, money, strict=True)]


def apportion(total: Decimal, shares: Sequence[float], quantum: Decimal) -> list[Decimal]:
    """`total` split by `shares` into multiples of `quantum` that sum exactly to it: each
    gets its rounded-down share, the units left go to the largest remainders (ties: the
    later touch, nearer the conversion)."""
    if not shares:
        return []
    if total < 0:  # a negative total (a refund): the same split, negated
        return [-part for part in apportion(-total, shares, quantum)]
    units = int((total / quantum).to_integral_value())
    exact = [units * share for share in shares]
    given = [math.floor(x) for x in exact]
    left = units - sum(given)
    by_remainder = sorted(range(len(shares)), key=lambda i: (exact[i] - given[i], i), reverse=True)
    for i in by_remainder[:left]:
        given[i] += 1
    return [(quantum * g).quantize(quantum) for g in given]
