"""Drop-off spike detection: each closed window of a stage against its own recent past.

For a stage S and a closed window: n sessions were at S (passed + dropped off) and x
dropped off there. The baseline p0 is the median drop-off rate of earlier windows with
enough volume: of the same hour of the day on earlier days (or the same hour of the week)
once that much history exists, else of the latest normal windows. The test is one-sided:

    z = (x/n - p0) / sqrt(p0 (1 - p0) / n  +  (1.4826 * MAD)^2)

the binomial variance of this window plus the spread the baseline itself shows (its
median absolute deviation), so ordinary noise between windows does not alert. A window
is anomalous when n >= min_volume, the p-value of z is below `significance` and the rate
rose by at least `min_rise`. The first anomalous window opens an episode and fires one
alert; the episode stays open (no further alerts) until `resolve_after` normal windows
in a row resolve it; then `cooldown` windows pass before a new episode may open. Windows
inside an episode never enter the recent-windows baseline.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from schemas.outputs import AlertStatus, Contributor, DropoffAlert


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds; the defaults suit a few hundred sessions a day up to millions."""

    min_volume: int = 30
    significance: float = 0.001
    min_rise: float = 0.05
    recent_windows: int = 48
    min_baseline: int = 6
    seasonal_days: int = 7  # this much history: compare with the same time of day
    max_history_days: int = 28
    resolve_after: int = 2
    cooldown: int = 3


class WindowStat(BaseModel):
    """One closed window of one stage."""

    start: datetime
    dropped: int
    sessions: int
    in_episode: bool = False

    @property
    def rate(self) -> float:
        return self.dropped / self.sessions if self.sessions else 0.0


class Episode(BaseModel):
    """An open drop-off spike."""

    alert_id: str
    started_at: datetime
    normal_streak: int = 0


class StageHistory(BaseModel):
    """What the detector remembers about one stage at one window size."""

    stage: str
    next_stage: str | None
    size_seconds: int
    windows: list[WindowStat] = Field(default_factory=list)
    episode: Episode | None = None
    quiet_until: datetime | None = None  # cooldown after a resolution


@dataclass(frozen=True)
class Assessment:
    """One window tested against its baseline."""

    baseline: float
    z: float
    p_value: float
    anomalous: bool


def baseline_windows(
    history: StageHistory, start: datetime, config: DetectorConfig
) -> list[WindowStat]:
    """The windows to compare `start` with: the same time of day on earlier days once a
    `seasonal_days` history exists (all of them: their median shrugs off an incident on a
    day or two), else the latest normal windows (those inside an episode left out)."""
    enough = [w for w in history.windows if w.sessions >= config.min_volume]
    if not enough:
        return []
    span = start - enough[0].start
    if span >= timedelta(days=config.seasonal_days) and history.size_seconds < 86400:
        day = 86400
        same_time = [w for w in enough if int((start - w.start).total_seconds()) % day == 0]
        if len(same_time) >= 3:
            weekly = [
                w for w in same_time if int((start - w.start).total_seconds()) % (7 * day) == 0
            ]
            return weekly if len(weekly) >= 3 else same_time
    return [w for w in enough if not w.in_episode][-config.recent_windows :]


def assess_window(
    dropped: int, sessions: int, baseline: list[WindowStat], config: DetectorConfig
) -> Assessment | None:
    """Is this window's drop-off significantly above the baseline? None: cannot tell yet."""
    if sessions < config.min_volume or len(baseline) < config.min_baseline:
        return None
    rates = [w.rate for w in baseline]
    p0 = statistics.median(rates)
    mad = statistics.median(abs(r - p0) for r in rates)
    p0 = min(max(p0, 1e-6), 1 - 1e-6)
    rate = dropped / sessions
    z = (rate - p0) / math.sqrt(p0 * (1 - p0) / sessions + (1.4826 * mad) ** 2)
    p_value = 0.5 * math.erfc(z / math.sqrt(2))
    return Assessment(
        p0, z, p_value, p_value < config.significance and rate - p0 >= config.min_rise
    )


def observe(
    history: StageHistory,
    window: WindowStat,
    by_value: dict[tuple[str, str], tuple[int, int]],
    config: DetectorConfig,
) -> list[DropoffAlert]:
    """Add one closed window to a stage's history; the alerts it raises or resolves.

    `by_value` holds the window's (dropped, sessions) per (dimension, value), from which
    a firing alert names the values that contribute most.
    """
    start = window.start
    baseline = baseline_windows(history, start, config)
    test = assess_window(window.dropped, window.sessions, baseline, config)
    anomalous = test is not None and test.anomalous
    alerts: list[DropoffAlert] = []
    episode = history.episode
    if episode is None:
        quiet = history.quiet_until is not None and start < history.quiet_until
        if anomalous and not quiet:
            episode = Episode(
                alert_id=f"{history.stage}/{history.size_seconds}/{start.isoformat()}",
                started_at=start,
            )
            history.episode = episode
            assert test is not None  # anomalous implies tested
            top = contributors(by_value, test.baseline)
            alerts.append(_alert(history, episode, "firing", window, test=test, contributors=top))
    elif anomalous:
        episode.normal_streak = 0
    else:
        episode.normal_streak += 1
        if episode.normal_streak >= config.resolve_after:
            alerts.append(_alert(history, episode, "resolved", window, test=test, contributors=[]))
            history.episode = None
            size = timedelta(seconds=history.size_seconds)
            history.quiet_until = start + size * (config.cooldown + 1)
    window.in_episode = history.episode is not None or anomalous
    history.windows.append(window)
    keep_from = start - timedelta(days=config.max_history_days)
    history.windows = [w for w in history.windows if w.start >= keep_from]
    return alerts


def contributors(
    counts: dict[tuple[str, str], tuple[int, int]], baseline: float, limit: int = 3
) -> list[Contributor]:
    """The dimension values with the most drop-offs above the baseline rate.

    `counts` maps (dimension, value) to (dropped, sessions) in the window.
    """
    found = []
    for (dimension, value), (dropped, sessions) in counts.items():
        excess = dropped - sessions * baseline
        if excess > 0 and sessions:
            found.append(
                Contributor(
                    dimension=dimension,
                    value=value,
                    dropped=dropped,
                    sessions=sessions,
                    rate=round(dropped / sessions, 4),
                    excess=round(excess, 2),
                )
            )
    found.sort(key=lambda c: (-c.excess, c.dimension, c.value))
    by_dimension: dict[str, int] = {}
    result = []
    for contributor in found:
        if by_dimension.get(contributor.dimension, 0) < limit:
            by_dimension[contributor.dimension] = by_dimension.get(contributor.dimension, 0) + 1
            result.append(contributor)
    return result


def _alert(
    history: StageHistory,
    episode: Episode,
    status: AlertStatus,
    window: WindowStat,
    *,
    test: Assessment | None,
    contributors: list[Contributor],
) -> DropoffAlert:
    size = timedelta(seconds=history.size_seconds)
    base = test.baseline if test is not None else 0.0
    rise = window.rate - base
    return DropoffAlert(
        alert_id=episode.alert_id,
        status=status,
        stage=history.stage,
        next_stage=history.next_stage,
        window_size_seconds=history.size_seconds,
        window_start=window.start,
        window_end=window.start + size,
        episode_started_at=episode.started_at,
        observed_rate=round(window.rate, 4),
        baseline_rate=round(base, 4),
        sessions=window.sessions,
        dropped=window.dropped,
        z_score=round(test.z, 3) if test is not None else None,
        p_value=test.p_value if test is not None else None,
        severity="critical"
        if rise >= 0.25 or (base > 0 and window.rate >= 2 * base)
        else "warning",
        contributors=contributors,
    )
