"""Markov attribution: each channel's removal effect in a first-order Markov chain.

Every path (a customer's channels before a conversion, or before the lookback ran out
without one) is a walk (start) -> channel -> ... -> (conversion) or (null). The chain's
transition probabilities are the observed shares of each state's next steps. A channel's
removal effect is the share of the chain's conversion probability lost when walks that
reach it go nowhere instead: 1 - P(conversion without it) / P(conversion). Conversions are
credited to channels in proportion to their removal effects.

Assumptions (docs/analysts.md, "Attribution"): the next step depends on the current
channel only (not on the path so far); repeated touches on one channel are steps like
any other; a path that did not convert within the lookback is one that never will.

    result = removal_effects([(["ads", "email"], True), (["ads"], False)])
    result.attributed   # {"ads": 0.5, "email": 0.5}
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"

#: state -> next state -> walks that took that step
Transitions = dict[str, Counter[str]]


@dataclass(frozen=True)
class MarkovResult:
    """The chain's verdict over a set of paths."""

    paths: int
    conversions: int
    conversion_probability: float
    removal_effects: dict[str, float]
    attributed: dict[str, float]  # conversions credited per channel (sum: conversions)


def transitions(paths: Iterable[tuple[Sequence[str], bool]]) -> Transitions:
    """Step counts of the walks the paths make."""
    counts: Transitions = {}
    for channels, converted in paths:
        walk = [START, *channels, CONVERSION if converted else NULL]
        for here, there in itertools.pairwise(walk):
            counts.setdefault(here, Counter())[there] += 1
    return counts


def conversion_probability(
    counts: Transitions, removed: str | None = None, tolerance: float = 1e-13
) -> float:
    """The probability that a walk from (start) converts (with `removed`'s walks going
    nowhere), by Gauss-Seidel sweeps of p(s) = sum over t of P(s -> t) p(t) until no
    state's probability moves by more than `tolerance`."""
    chains = {
        state: [(there, n / sum(following.values())) for there, n in following.items()]
        for state, following in counts.items()
    }
    p = dict.fromkeys(chains, 0.0)
    for _ in range(100_000):
        moved = 0.0
        for state, steps in chains.items():
            if state == removed:
                continue
            value = sum(share * _value(p, there, removed) for there, share in steps)
            moved = max(moved, abs(value - p[state]))
            p[state] = value
        if moved < tolerance:
            break
    return p.get(START, 0.0)


def _value(p: dict[str, float], state: str, removed: str | None) -> float:
    if state == CONVERSION:
        return 1.0
    if state in (NULL, removed):
        return 0.0
    return p.get(state, 0.0)


def removal_effects(paths: Iterable[tuple[Sequence[str], bool]]) -> MarkovResult:
    """Each channel's removal effect, and the conversions credited to it."""
    walked = list(paths)
    counts = transitions(walked)
    conversions = sum(converted for _, converted in walked)
    channels = sorted({c for path, _ in walked for c in path})
    base = conversion_probability(counts)
    effects = {
        c: (1.0 - conversion_probability(counts, removed=c) / base) if base > 0 else 0.0
        for c in channels
    }
    total = sum(effects.values())
    attributed = {
        c: conversions * effect / total if total > 0 else 0.0 for c, effect in effects.items()
    }
    return MarkovResult(len(walked), conversions, base, effects, attributed)
