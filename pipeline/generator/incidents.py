"""Injected incidents: a journey step whose drop-off rises for a period.

Incident.parse("decision@2026-03-10T00:00Z+48h=0.7")
# from that time, for 48 hours, 70% of the visits that reach `decision` stop there
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.errors import ConfigError

#: Stages whose onward step the generator can break (the five-stage model's funnel).
STEPS = ("awareness", "consideration", "decision")

_SPEC = re.compile(
    r"^(?P<stage>[a-z]+)@(?P<start>[^+]+)\+(?P<hours>\d+(\.\d+)?)h=(?P<rate>[\d.]+)$"
)


@dataclass(frozen=True)
class Incident:
    """During [start, end) a visit at `stage` moves on with probability 1 - drop_off."""

    stage: str
    start: datetime
    end: datetime
    drop_off: float

    def covers(self, stage: str, at: datetime) -> bool:
        return stage == self.stage and self.start <= at < self.end

    @classmethod
    def parse(cls, spec: str) -> Incident:
        """`<stage>@<ISO start>+<hours>h=<drop-off>`, e.g. decision@2026-03-10T00:00Z+48h=0.7."""
        match = _SPEC.match(spec.strip())
        if match is None:
            raise ConfigError(
                f"incident {spec!r}: expected <stage>@<ISO start>+<hours>h=<drop-off>, "
                "e.g. decision@2026-03-10T00:00Z+48h=0.7"
            )
        stage = match["stage"]
        if stage not in STEPS:
            raise ConfigError(f"incident {spec!r}: stage must be one of {', '.join(STEPS)}")
        try:
            start = datetime.fromisoformat(match["start"].replace("Z", "+00:00"))
        except ValueError as error:
            raise ConfigError(f"incident {spec!r}: bad start time ({error})") from None
        if start.tzinfo is None:
            raise ConfigError(f"incident {spec!r}: the start time needs an offset, e.g. Z")
        rate = float(match["rate"])
        if not 0 <= rate <= 1:
            raise ConfigError(f"incident {spec!r}: the drop-off rate must lie in [0, 1]")
        return cls(stage, start, start + timedelta(hours=float(match["hours"])), rate)


def advance_probability(
    incidents: tuple[Incident, ...], stage: str, at: datetime, usual: float
) -> float:
    """How likely a visit at `stage` at `at` moves on: the usual odds unless an incident runs."""
    for incident in incidents:
        if incident.covers(stage, at):
            return 1.0 - incident.drop_off
    return usual
