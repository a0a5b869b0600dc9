"""The daily Markov attribution, computed in the worker from what ClickHouse holds.

For each day that is final (every window of it judged: `step_windows` reaches its end)
and not computed yet, the visits of the lookback before the day's end become paths
(view `markov_paths`), the chain their removal effects (pipeline.attribution.markov), and
one row per channel goes into `markov_attribution`. A computed day is due again once a
session of its lookback changed after it was computed (very late data): the new rows
replace the old ones (`computed_at` is their version).

    for day in days_due(ask, lookback):
        rows = markov_rows(ask, day, lookback)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pipeline.attribution.markov import removal_effects

#: Runs a read-only query; returns its rows.
Ask = Callable[[str], Sequence[Sequence[Any]]]

#: At most this many days per run (a long backlog catches up over several runs).
DAYS_PER_RUN = 31


def days_due(ask: Ask, lookback: timedelta) -> list[date]:
    """Final days with visits, not computed yet for this lookback or computed before a
    session of their lookback last changed, oldest first."""
    lookback_days = int(lookback.days)
    new = ask(
        "SELECT toDate(started_at) AS day FROM v_sessions WHERE status = 'closed' "
        "AND toDateTime(toDate(started_at) + 1) <= "
        "(SELECT max(window_end) FROM step_windows) "
        "AND day NOT IN (SELECT day FROM markov_attribution "
        f"WHERE lookback_days = {lookback_days}) "
        f"GROUP BY day ORDER BY day LIMIT {DAYS_PER_RUN}"
    )
    computed = {
        row[0]: row[1]
        for row in ask(
            "SELECT day, max(computed_at) FROM markov_attribution "
            f"WHERE lookback_days = {lookback_days} GROUP BY day"
        )
    }
    changed: dict[date, datetime] = {}
    if computed:
        since = min(computed) - timedelta(days=lookback_days)
        oldest = min(computed.values())
        if oldest.tzinfo is not None:
            oldest = oldest.astimezone(UTC)
        changed = {  # only what changed since the oldest computation can make a day stale
            row[0]: row[1]
            for row in ask(
                "SELECT toDate(started_at) AS day, max(_inserted_at) FROM sessions "
                f"WHERE status = 'closed' AND started_at >= '{since:%Y-%m-%d}' "
                f"AND _inserted_at >= toDateTime64('{oldest:%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC') "
                "GROUP BY day"
            )
        }
    window = [timedelta(days=back) for back in range(lookback_days)]
    stale = [
        day
        for day, at in computed.items()
        if any(day - back in changed and changed[day - back] >= at for back in window)
    ]
    return sorted({row[0] for row in new} | set(stale))[:DAYS_PER_RUN]


def markov_rows(ask: Ask, day: date, lookback: timedelta) -> list[tuple[object, ...]]:
    """`markov_attribution`'s rows for `day`: one per channel of the day's paths, each
    computed as of ClickHouse's clock before the paths were read (so a session stored
    while they were read makes the day due again)."""
    until = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    since = until - lookback
    computed_at = ask("SELECT now64(3)")[0][0]
    paths = ask(
        f"SELECT path, converted FROM markov_paths(since = '{since:%Y-%m-%d %H:%M:%S}', "
        f"until = '{until:%Y-%m-%d %H:%M:%S}')"
    )
    result = removal_effects((list(path), bool(converted)) for path, converted in paths)
    effects = dict(result.removal_effects)
    attributed = dict(result.attributed)
    # A channel an earlier computation of the day had, and the paths no longer have
    # (late data moved its visits): zero, so that FINAL does not keep its old figures.
    for [channel] in ask(
        f"SELECT DISTINCT channel FROM markov_attribution WHERE day = '{day:%Y-%m-%d}' "
        f"AND lookback_days = {int(lookback.days)}"
    ):
        effects.setdefault(channel, 0.0)
        attributed.setdefault(channel, 0.0)
    return [
        (
            day,
            lookback.days,
            channel,
            effect,
            attributed[channel],
            result.paths,
            result.conversions,
            result.conversion_probability,
            computed_at,
        )
        for channel, effect in sorted(effects.items())
    ]
