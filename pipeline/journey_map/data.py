"""What the journey map shows for one choice of filters: each view's rows, as JSON.

Usage:
    choice = MapFilters.parse({"from": "2026-03-02", "to": "2026-03-29", "channel": "email"})
    body = answer(queries.query, choice, datetime.now(UTC))   # {"range": ..., "funnel": [...]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.query import QueryResult

#: The range shown when none is chosen: the last four weeks with data.
DEFAULT_DAYS = 28
DIMENSIONS = ("channel", "campaign", "segment")

#: Each part of the page and the view that answers it (`{...}`: the filters' parameters).
VIEWS = {
    "funnel": "stage_funnel_between",
    "dropoff": "stage_dropoff_between",
    "flows": "stage_flows_between",
    "sessions": "funnel_between",
    "watch": "step_watch_between",
    "alerts": "alerts_between",
    "options": "dimension_values_between",
}
#: Which views take the dimension filters (the others: the range only).
FILTERED = ("funnel", "dropoff", "flows", "sessions")
LATEST_SQL = "SELECT max(event_time) FROM stage_transitions"


#: A read-only query: SQL and its parameters -> the result (ReadOnlyQueries.query).
Ask = Callable[[str, Mapping[str, str] | None], QueryResult]


@dataclass(frozen=True)
class MapFilters:
    """The page's filters: days from `first` to `last`, both included (None: the last
    four weeks with data), and a channel, campaign and segment ('' for all)."""

    first: date | None = None
    last: date | None = None
    channel: str = ""
    campaign: str = ""
    segment: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> MapFilters:
        """The filters of a query string; ValueError naming the parameter at fault."""
        unknown = sorted(set(query) - {"from", "to", *DIMENSIONS})
        if unknown:
            raise ValueError(
                f"unknown parameter {unknown[0]!r} (from, to, {', '.join(DIMENSIONS)})"
            )
        first, last = (_day(query, name) for name in ("from", "to"))
        if first is not None and last is not None and last < first:
            raise ValueError(f"to ({last}) is before from ({first})")
        return cls(first, last, *(query.get(name, "").strip() for name in DIMENSIONS))

    def resolved(self, latest: date) -> MapFilters:
        """These filters with the range filled in, for data up to `latest`."""
        last = self.last or (
            self.first + timedelta(days=DEFAULT_DAYS - 1) if self.first is not None else latest
        )
        first = self.first or last - timedelta(days=DEFAULT_DAYS - 1)
        return replace(self, first=first, last=last)

    def parameters(self, view: str) -> dict[str, str]:
        """The parameters of `view` (a key of VIEWS) for these filters: [since, until)."""
        assert self.first is not None and self.last is not None, "resolved() first"
        bounds = {
            "since": self.first.isoformat(),
            "until": (self.last + timedelta(days=1)).isoformat(),
        }
        if view not in FILTERED:
            return bounds
        return bounds | {name: getattr(self, name) for name in DIMENSIONS}


def view_sql(view: str, parameters: Mapping[str, str]) -> str:
    """SELECT * FROM the view of part `view`, its parameters bound as placeholders."""
    arguments = ", ".join(f"{name} = {{{name}:String}}" for name in parameters)
    return f"SELECT * FROM {VIEWS[view]}({arguments})"


def answer(ask: Ask, filters: MapFilters, now: datetime) -> dict[str, Any]:
    """Every part of the page for `filters` (range defaulted to the data's last four
    weeks), each as its view's rows."""
    [[latest_at]] = ask(LATEST_SQL, {}).result_rows
    latest = latest_at.date() if isinstance(latest_at, datetime) and latest_at.year > 1970 else None
    chosen = filters.resolved(latest or now.astimezone(UTC).date())
    body: dict[str, Any] = {
        "range": {"from": chosen.first, "to": chosen.last},
        "filters": {name: getattr(chosen, name) for name in DIMENSIONS},
        "data_up_to": latest_at if latest else None,
        "queries": {},
    }
    for part in VIEWS:
        parameters = chosen.parameters(part)
        sql = view_sql(part, parameters)
        result = ask(sql, parameters)
        body[part] = [
            dict(zip(result.column_names, row, strict=True)) for row in result.result_rows
        ]
        body["queries"][part] = {"sql": sql, "params": parameters}
    return body


def _day(query: Mapping[str, str], name: str) -> date | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected a day like 2026-03-02, got {value!r}") from None
