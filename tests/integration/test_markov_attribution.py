"""The daily Markov attribution from what ClickHouse holds: the visits become paths cut
after each purchase (view markov_paths), and each final day's rows are the chain's
removal effects over the lookback before its end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from clickhouse_connect.driver.client import Client

from pipeline.attribution.markov import removal_effects
from pipeline.attribution.markov_job import days_due, markov_rows
from pipeline.clickhouse.migrations import migrate
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import RowWriter, TableWriter
from schemas.outputs import SessionRecord
from tests.integration.test_counts_consistency import generated, run_partitions

pytestmark = pytest.mark.integration

LOOKBACK = timedelta(days=2)


def write(client: Client, table: str, columns: tuple[str, ...], made: list[Any]) -> None:
    sourced = [SourcedRow(f"gen.{table}", 0, i, values, 0) for i, values in enumerate(made)]
    asyncio.run(TableWriter(client, table, columns, threading.Lock()).write(sourced))


def paths_in(sessions: Sequence[SessionRecord], since: datetime, until: datetime) -> list[Any]:
    """The same paths, worked out in Python from the closed sessions."""
    final = {s.session_id: s for s in sessions if s.status == "closed"}
    by_customer: dict[str, list[SessionRecord]] = {}
    for s in final.values():
        if since <= s.started_at < until:
            by_customer.setdefault(s.customer_id, []).append(s)
    paths = []
    for visits in by_customer.values():
        path: list[str] = []
        for visit in sorted(visits, key=lambda s: s.started_at):
            path.append(visit.entry_channel)
            if visit.converted:
                paths.append((path, True))
                path = []
        if path:
            paths.append((path, False))
    return paths


def test_each_final_day_gets_the_removal_effects_of_its_lookback(clickhouse: Client) -> None:
    out = run_partitions(generated(days=4, customers=200))
    migrate(clickhouse, retention_days=3650)
    write(
        clickhouse, rows.SESSIONS, rows.SESSION_COLUMNS, [rows.session_row(s) for s in out.sessions]
    )
    first = min(s.started_at for s in out.sessions).date()
    # Windows judged up to the end of the third day: three days are final.
    judged_until = datetime.combine(first + timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    write(clickhouse, rows.STEP_WINDOWS, rows.STEP_WINDOW_COLUMNS, [
        ("decision", "retention", 3600, judged_until - timedelta(hours=1), judged_until, 1, 0,
         0.0, None, 0.0, False, None),
    ])  # fmt: skip

    def ask(sql: str) -> Sequence[Sequence[Any]]:
        return clickhouse.query(sql).result_rows

    due = days_due(ask, LOOKBACK)
    assert due == [first + timedelta(days=d) for d in range(3)]
    day: date = due[-1]
    made = markov_rows(ask, day, LOOKBACK)
    until = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    expected = removal_effects(paths_in(out.sessions, until - LOOKBACK, until))
    assert expected.conversions > 5 and expected.paths > 50
    assert {row[2]: row[3] for row in made} == pytest.approx(expected.removal_effects)
    assert {row[2]: row[4] for row in made} == pytest.approx(expected.attributed)
    assert {(row[5], row[6]) for row in made} == {(expected.paths, expected.conversions)}
    RowWriter(clickhouse, rows.MARKOV, rows.MARKOV_COLUMNS, threading.Lock()).write_blocking(
        made, token=f"markov:{day}"
    )
    assert days_due(ask, LOOKBACK) == due[:-1], "a computed day is not due again"

    # Very late data: a visit of the day's lookback turns out to have converted.
    late = next(
        msgspec.structs.replace(s, version=s.version + 1, converted=True, is_late=True)
        for s in out.sessions
        if s.status == "closed" and not s.converted and until - LOOKBACK <= s.started_at < until
    )
    sourced = [SourcedRow("late.sessions", 0, 0, rows.session_row(late), 0)]
    columns = rows.SESSION_COLUMNS
    asyncio.run(TableWriter(clickhouse, rows.SESSIONS, columns, threading.Lock()).write(sourced))
    assert days_due(ask, LOOKBACK) == due, "a day whose lookback changed is due again"
    again = markov_rows(ask, day, LOOKBACK)
    sessions = [late if s.session_id == late.session_id else s for s in out.sessions]
    expected = removal_effects(paths_in(sessions, until - LOOKBACK, until))
    assert {(row[5], row[6]) for row in again} == {(expected.paths, expected.conversions)}
    assert {row[2]: row[3] for row in again} == pytest.approx(expected.removal_effects)
    RowWriter(clickhouse, rows.MARKOV, rows.MARKOV_COLUMNS, threading.Lock()).write_blocking(
        again, token=f"markov:{day}:{again[0][-1]}"
    )
    assert days_due(ask, LOOKBACK) == due[:-1]
    stored = clickhouse.query(
        "SELECT channel, path_conversions FROM markov_attribution FINAL WHERE day = {d:Date}",
        parameters={"d": day},
    ).result_rows
    assert {channel: n for channel, n in stored} == {row[2]: row[6] for row in again}

    # A channel an earlier computation of the day had and the paths no longer have.
    earlier = again[0][-1] - timedelta(seconds=1)
    gone = (day, LOOKBACK.days, "fax", 0.5, 3.0, 1, 1, 0.1, earlier)
    writer = RowWriter(clickhouse, rows.MARKOV, rows.MARKOV_COLUMNS, threading.Lock())
    writer.write_blocking([gone], token="markov:gone")
    zeroed = markov_rows(ask, day, LOOKBACK)
    assert {row[2] for row in zeroed} == {row[2] for row in again} | {"fax"}
    assert {row[2]: (row[3], row[4]) for row in zeroed}["fax"] == (0.0, 0.0)
    writer.write_blocking(zeroed, token=f"markov:{day}:{zeroed[0][-1]}")
    [[effect, conversions]] = clickhouse.query(
        "SELECT removal_effect, conversions FROM markov_attribution FINAL "
        "WHERE day = {d:Date} AND channel = 'fax'",
        parameters={"d": day},
    ).result_rows
    assert (effect, conversions) == (0.0, 0.0)
