"""The daily Markov attribution, computed in the worker from what ClickHouse holds.

For each day that is final (every window of it judged: `step_windows` reaches its end)
and not computed yet, the visits of the lookback before the day's end become paths
(view `markov_paths`), the chain their removal effects (pipeline.attribution.markov), and
one row per channel goes into `markov_attribution`.

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
    """Final days with visits, not computed yet for this lookback, oldest first."""
    lookback_days = lookback.days
    rows = ask(
        "SELECT toDate(started_at) AS day FROM v_sessions WHERE status = 'closed' "
        "AND toDateTime(toDate(started_at) + 1) <= "
        "(SELECT max(window_end) FROM step_windows) "
        "AND day NOT IN (SELECT day FROM markov_attribution "
        f"WHERE lookback_days = {int(lookback_days)}) "
        f"GROUP BY day ORDER BY day LIMIT {DAYS_PER_RUN}"
    )
    return [row[0] for row in rows]


def markov_rows(ask: Ask, day: date, lookback: timedelta) -> list[tuple[object, ...]]:
    """`markov_attribution`'s rows for `day`: one per channel of the day's paths."""
    until = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    since = until - lookback
    paths = ask(
        f"SELECT path, converted FROM markov_paths(since = '{since:%Y-%m-%d %H:%M:%S}', "
        f"until = '{until:%Y-%m-%d %H:%M:%S}')"
    )
    result = removal_effects((list(path), bool(converted)) for path, converted in paths)
    return [
        (
            day,
            lookback.days,
            channel,
            effect,
            result.attributed[channel],
            result.paths,
            result.conversions,
            result.conversion_probability,
        )
        for channel, effect in sorted(result.removal_effects.items())
    ]
