"""The worker's ClickHouse HTTP interface: how a request becomes a read-only query."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from pipeline.clickhouse_http import answer

pytestmark = pytest.mark.unit


class Recorded:
    """A ReadOnlyQueries stand-in that records what it was asked."""

    def __init__(self, fails: str | None = None) -> None:
        self.asked: list[tuple[str, dict[str, str], str | None]] = []
        self.fails = fails

    def raw(self, sql: str, parameters: Mapping[str, str], fmt: str | None) -> bytes:
        self.asked.append((sql, dict(parameters), fmt))
        if self.fails:
            raise DatabaseError(self.fails)
        return b"rows"


def test_the_query_parameter_and_the_body_make_one_statement_with_bound_parameters() -> None:
    queries = Recorded()
    got = answer(
        queries,  # type: ignore[arg-type]
        {"query": "SELECT * FROM t WHERE d >= {day:Date}", "param_day": "2026-03-01",
         "default_format": "JSON", "max_result_rows": "10"},
        b"AND s = 'x'",
    )  # fmt: skip
    assert (got.status, got.body, got.headers["X-ClickHouse-Format"]) == (200, b"rows", "JSON")
    assert queries.asked == [
        ("SELECT * FROM t WHERE d >= {day:Date} AND s = 'x'", {"day": "2026-03-01"}, "JSON")
    ]


def test_a_format_clause_wins_and_tab_separated_is_the_default() -> None:
    queries = Recorded()
    answer(queries, {}, b"SELECT 1 FORMAT JSONEachRow;")  # type: ignore[arg-type]
    answer(queries, {"query": "SELECT 1"}, b"")  # type: ignore[arg-type]
    assert [(fmt) for _, _, fmt in queries.asked] == [None, "TabSeparated"]


def test_errors_come_back_as_clickhouse_sends_them() -> None:
    refused = answer(
        Recorded("Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY)"),  # type: ignore[arg-type]
        {"query": "DROP TABLE t"},
        b"",
    )
    assert refused.status == 500 and refused.headers["X-ClickHouse-Exception-Code"] == "164"
    assert refused.body.startswith(b"Code: 164. DB::Exception")
    empty = answer(Recorded(), {}, b"  ")  # type: ignore[arg-type]
    assert (empty.status, empty.headers["X-ClickHouse-Exception-Code"]) == (400, "62")
