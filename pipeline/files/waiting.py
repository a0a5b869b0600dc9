"""`journeys replay --wait`: until every event a replay sent is final in ClickHouse.

Final means placed in its session by the partition that owns its customer (the row's
highest version, `rows.FINAL`): what analysts read will not change for it any more,
except that the session it ends closes once the partition's event time has moved past
the inactivity gap. An event sent again (a replay of the same file) counts as final when
its first copy is.

Usage:
    missing = wait_until_final(ask, summary.event_ids, timeout=1800, told=progress)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from clickhouse_connect.driver.binding import format_query_value

from pipeline.query import Ask
from pipeline.sink.rows import FINAL

#: Event ids per query: their literals stay well inside ClickHouse's max_query_size.
PER_QUERY = 2_000


def final_among(ask: Ask, event_ids: Sequence[str]) -> set[str]:
    """Those of `event_ids` stored as final touchpoints."""
    found: set[str] = set()
    for start in range(0, len(event_ids), PER_QUERY):
        chunk = event_ids[start : start + PER_QUERY]
        listed = ", ".join(format_query_value(event_id) for event_id in chunk)
        rows = ask(
            f"SELECT DISTINCT event_id FROM touchpoints "
            f"WHERE _version = {FINAL} AND event_id IN ({listed})"
        )
        found.update(str(row[0]) for row in rows)
    return found


def wait_until_final(
    ask: Ask,
    event_ids: set[str],
    timeout: float,
    told: Callable[[int], None] = lambda final: None,
    poll: float = 1.0,
) -> set[str]:
    """Ask ClickHouse every `poll` seconds until all of `event_ids` are final; tells
    `told` how many are; returns those still not final after `timeout` seconds."""
    pending = set(event_ids)
    deadline = time.monotonic() + timeout
    while True:
        pending -= final_among(ask, sorted(pending))
        told(len(event_ids) - len(pending))
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(poll)
