"""Drop-off spike detection: each closed window of a stage against its own recent past.

For a stage S and a closed window: n sessions were at S (passed + dropped off) and x
dropped off there. The baseline p0 is the median drop-off rate of earlier windows with
enough volume: of the same hour of the day on earlier days (or the same hour of the week)
once that much history exists, else of the latest normal windows. The test is one-sided:

    z = (x/n - p0) / sqrt(p0 (1 - p0) / n  +  (1.4826 * MAD)^2)

the binomial variance of this window plus the spread the baseline itself shows (its
median absolute deviation), so ordinary noise between windows does not alert. A window
is anomalous when n >= min_volume, the p-value of z is below `significance` and the rate
rose by at least `min_rise`.

A step with few sessions a window has no power in such a test, so evidence is also
accumulated across windows (a one-sided Bernoulli CUSUM): each window adds the log
likelihood ratio of its x drop-offs in n sessions under a conversion cut to
`evidence_shift` times the baseline's (p1 = 1 - (1 - p0) * shift) against the baseline
p0 (the pooled rate of the baseline windows' sessions), divided by how much more those
windows' rates vary than binomial noise (their dispersion, at least 1); the sum is
floored at 0, and reaching `evidence_threshold` is anomalous too. A busy step crosses it
in one window; five sessions a day take days, as they must.

The first anomalous window opens an episode and fires one alert; the episode stays open
(no further alerts) until `resolve_after` normal windows in a row resolve it: tested and
not anomalous, or, too small to test, after the reverse evidence (the baseline against
the shifted rate) has reached `evidence_threshold`. Then `cooldown` windows pass before a
new episode may open. Windows inside an episode, or while the evidence is past half the
threshold, never enter the baseline.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from schemas.outputs import AlertStatus, Contributor, DropoffAlert, StepWindow


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
    evidence_threshold: float = 8.0
    evidence_shift: float = 0.6
    min_baseline_sessions: int = 60


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
    evidence: float = 0.0  # for a rise (CUSUM), since it was last 0
    evidence_dropped: int = 0  # the drop-offs and sessions it was accumulated over
    evidence_sessions: int = 0
    # ... and per dimension and value: dimension -> value -> (dropped, sessions)
    evidence_by_value: dict[str, dict[str, tuple[int, int]]] = Field(default_factory=dict)
    recovery: float = 0.0  # for the baseline again, during an episode


@dataclass(frozen=True)
class Assessment:
    """One window tested against its baseline."""

    baseline: float
    z: float
    p_value: float
    anomalous: bool


@dataclass(frozen=True)
class Pooled:
    """The baseline's sessions taken together."""

    rate: float
    dispersion: float  # the windows' rate variance over binomial noise's (>= 1)


def baseline_windows(
    history: StageHistory, start: datetime, config: DetectorConfig, min_volume: int | None = None
) -> list[WindowStat]:
    """The windows to compare `start` with (those with `min_volume` sessions, by default
    the detector's): the same time of day on earlier days once a `seasonal_days` history
    exists (all of them: their median shrugs off an incident on a day or two), else the
    latest normal windows (those inside an episode left out)."""
    least = config.min_volume if min_volume is None else min_volume
    enough = [w for w in history.windows if w.sessions >= least]
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


def pooled_baseline(
    history: StageHistory, start: datetime, config: DetectorConfig
) -> Pooled | None:
    """The baseline of the evidence: every baseline window with a session, pooled; None
    while they hold fewer than `min_baseline_sessions` sessions or `min_baseline` windows."""
    chosen = [w for w in baseline_windows(history, start, config, 1) if not w.in_episode]
    sessions = sum(w.sessions for w in chosen)
    if sessions < config.min_baseline_sessions or len(chosen) < config.min_baseline:
        return None
    p0 = min(max(sum(w.dropped for w in chosen) / sessions, 1e-3), 1 - 1e-3)
    pearson = sum((w.dropped - w.sessions * p0) ** 2 / (w.sessions * p0 * (1 - p0)) for w in chosen)
    return Pooled(p0, max(1.0, pearson / (len(chosen) - 1)))


def log_likelihood_ratio(dropped: int, sessions: int, p0: float, p1: float) -> float:
    """How much more likely `dropped` of `sessions` is at drop-off rate p1 than at p0."""
    return dropped * math.log(p1 / p0) + (sessions - dropped) * math.log((1 - p1) / (1 - p0))


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
    return judge(history, window, by_value, config)[0]


def judge(
    history: StageHistory,
    window: WindowStat,
    by_value: dict[tuple[str, str], tuple[int, int]],
    config: DetectorConfig,
) -> tuple[list[DropoffAlert], StepWindow]:
    """`observe`, and how the window was judged (for every window, alert or not)."""
    start = window.start
    baseline = baseline_windows(history, start, config)
    test = assess_window(window.dropped, window.sessions, baseline, config)
    evident, recovered, pooled = _weigh_evidence(history, window, by_value, config)
    anomalous = (test is not None and test.anomalous) or evident
    held_against = test.baseline if test is not None else pooled.rate if pooled else None
    evidence = history.evidence
    alerts: list[DropoffAlert] = []
    episode = history.episode
    if episode is None:
        quiet = history.quiet_until is not None and start < history.quiet_until
        if anomalous and not quiet:
            if test is None or not test.anomalous:  # evident across windows
                assert pooled is not None  # evidence needs a baseline
                test = _stretch_test(history, pooled)
                top = contributors(_stretch_values(history), test.baseline)
            else:
                top = contributors(by_value, test.baseline)
            episode = Episode(
                alert_id=f"{history.stage}/{history.size_seconds}/{start.isoformat()}",
                started_at=start,
            )
            history.episode = episode
            _forget_evidence(history)
            alerts.append(_alert(history, episode, "firing", window, test=test, contributors=top))
    elif (test is not None and test.anomalous) or (test is None and not recovered):
        episode.normal_streak = 0
    else:
        episode.normal_streak += 1
        if episode.normal_streak >= config.resolve_after:
            alerts.append(_alert(history, episode, "resolved", window, test=test, contributors=[]))
            history.episode = None
            _forget_evidence(history)
            size = timedelta(seconds=history.size_seconds)
            history.quiet_until = start + size * (config.cooldown + 1)
    window.in_episode = (
        history.episode is not None
        or anomalous
        or history.evidence >= config.evidence_threshold / 2
    )
    history.windows.append(window)
    # The last `max_history_days`, and however old, the latest `recent_windows` normal
    # windows: a baseline outlives a long incident, and weekly windows get one.
    keep_from = start - timedelta(days=config.max_history_days)
    normal = {
        w.start for w in [w for w in history.windows if not w.in_episode][-config.recent_windows :]
    }
    history.windows = [w for w in history.windows if w.start >= keep_from or w.start in normal]
    size = timedelta(seconds=history.size_seconds)
    judged = StepWindow(
        stage=history.stage,
        next_stage=history.next_stage,
        window_size_seconds=history.size_seconds,
        window_start=start,
        window_end=start + size,
        sessions=window.sessions,
        dropped=window.dropped,
        observed_rate=round(window.rate, 4),
        baseline_rate=None if held_against is None else round(held_against, 4),
        evidence=round(evidence, 3),
        anomalous=anomalous,
        alert_id=history.episode.alert_id if history.episode is not None else None,
    )
    return alerts, judged


def _weigh_evidence(
    history: StageHistory,
    window: WindowStat,
    by_value: dict[tuple[str, str], tuple[int, int]],
    config: DetectorConfig,
) -> tuple[bool, bool, Pooled | None]:
    """Add the window to the evidence for a rise (and, in an episode, for a recovery):
    (has the rise become evident, has the recovery, the baseline they were weighed on)."""
    pooled = pooled_baseline(history, window.start, config)
    if pooled is None or window.sessions == 0:
        return False, False, pooled
    p0 = pooled.rate
    p1 = 1 - (1 - p0) * config.evidence_shift
    weight = log_likelihood_ratio(window.dropped, window.sessions, p0, p1) / pooled.dispersion
    if history.episode is not None:
        history.recovery = max(0.0, history.recovery - weight)
    elif history.evidence + weight > 0:
        history.evidence += weight
        history.evidence_dropped += window.dropped
        history.evidence_sessions += window.sessions
        for (dimension, value), (dropped, sessions) in by_value.items():
            values = history.evidence_by_value.setdefault(dimension, {})
            before = values.get(value, (0, 0))
            values[value] = (before[0] + dropped, before[1] + sessions)
    else:
        _forget_evidence(history)
    evident = history.evidence >= config.evidence_threshold
    return evident, history.recovery >= config.evidence_threshold, pooled


def _forget_evidence(history: StageHistory) -> None:
    history.evidence = history.recovery = 0.0
    history.evidence_dropped = history.evidence_sessions = 0
    history.evidence_by_value = {}


def _stretch_values(history: StageHistory) -> dict[tuple[str, str], tuple[int, int]]:
    """The evidence's stretch of windows per dimension and value, as one window's."""
    return {
        (dimension, value): counts
        for dimension, values in history.evidence_by_value.items()
        for value, counts in values.items()
    }


def _stretch_test(history: StageHistory, pooled: Pooled) -> Assessment:
    """The evidence's stretch of windows as one: its drop-off rate against the pooled
    baseline's (a binomial z-test, widened by the dispersion)."""
    n, p0 = history.evidence_sessions, pooled.rate
    rate = history.evidence_dropped / n
    z = (rate - p0) / math.sqrt(pooled.dispersion * p0 * (1 - p0) / n)
    return Assessment(p0, z, 0.5 * math.erfc(z / math.sqrt(2)), True)


def contributors(
    counts: dict[tuple[str, str], tuple[int, int]], baseline: float, limit: int = 3
) -> list[Contributor]:
    """The dimension values that explain the lost conversions, most telling first.

    `counts` maps (dimension, value) to (dropped, sessions) over what alerted (a window,
    or the stretch of windows the evidence summed). A value's lost conversions are its
    drop-offs above the baseline rate; its `share` of a dimension's lost conversions is
    ranked against its `sessions_share` of that dimension's sessions: a segment with a
    fifth of the sessions and nine tenths of the losses comes before a channel that
    carries nearly every session and so nearly every loss. Up to `limit` per dimension.
    """
    lost: dict[str, float] = {}
    total: dict[str, int] = {}
    for (dimension, _), (dropped, sessions) in counts.items():
        lost[dimension] = lost.get(dimension, 0.0) + max(0.0, dropped - sessions * baseline)
        total[dimension] = total.get(dimension, 0) + sessions
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
                    share=round(excess / lost[dimension], 4),
                    sessions_share=round(sessions / total[dimension], 4),
                )
            )
    found.sort(key=lambda c: (c.sessions_share - c.share, -c.excess, c.dimension, c.value))
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
