"""Sending pace: as fast as possible, or the files' own rhythm compressed by a factor.

Event times are never changed (they travel in the data); speed only decides when each
row is sent. At `--speed 60` an hour of history takes a minute: a row is sent when the
wall clock has moved on (its event time - the first event time) / 60 since the start.
A row that is older than the one before (out of order) is due at once.

Usage:
    pacer = Pacer(speed=60)
    time.sleep(pacer.delay(event_time, time.monotonic()))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


def send_delay(
    event_time: datetime, first_event: datetime, started: float, now: float, speed: float
) -> float:
    """Seconds to wait before sending an event at `event_time` (0: send now)."""
    due = started + (event_time - first_event).total_seconds() / speed
    return max(0.0, due - now)


@dataclass
class Pacer:
    """Remembers where the replay started, in event time and on the wall clock."""

    speed: float | None = None  # None: as fast as possible
    _origin: tuple[datetime, float] | None = None

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError("speed must be more than zero")

    def delay(self, event_time: datetime, now: float) -> float:
        """Seconds to wait before sending `event_time`; the first event sets the origin."""
        if self.speed is None:
            return 0.0
        if self._origin is None:
            self._origin = (event_time, now)
            return 0.0
        first_event, started = self._origin
        return send_delay(event_time, first_event, started, now, self.speed)
