"""The journey map's filters (pipeline.journey_map.data): parsed from the page's query
string with one clear error per bad parameter, the range defaulted to the data's last
four weeks, and each view given the parameters it takes."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.journey_map.data import FILTERED, VIEWS, MapFilters, view_sql
from pipeline.settings import WorkerSettings

pytestmark = pytest.mark.unit


def test_filters_parse_a_query_string() -> None:
    parsed = MapFilters.parse({"from": "2026-03-02", "to": "2026-03-08", "channel": " email "})
    assert parsed == MapFilters(date(2026, 3, 2), date(2026, 3, 8), "email", "", "")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "03/02/2026"}, "from: expected a day like 2026-03-02, got '03/02/2026'"),
        ({"to": "yesterday"}, "to: expected a day like 2026-03-02, got 'yesterday'"),
        ({"from": "2026-03-09", "to": "2026-03-02"}, "to (2026-03-02) is before from (2026-03-09)"),
        ({"chanel": "email"}, "unknown parameter 'chanel' (from, to, channel, campaign, segment)"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        MapFilters.parse(query)
    assert str(refused.value) == message


def test_the_range_defaults_to_four_weeks_ending_with_the_data() -> None:
    latest = date(2026, 3, 29)
    assert MapFilters().resolved(latest) == MapFilters(date(2026, 3, 2), latest)
    assert MapFilters(first=date(2026, 1, 1)).resolved(latest) == MapFilters(
        date(2026, 1, 1), date(2026, 1, 28)
    )
    assert MapFilters(last=date(2026, 2, 28)).resolved(latest) == MapFilters(
        date(2026, 2, 1), date(2026, 2, 28)
    )


def test_each_view_gets_the_range_as_since_until_and_the_filters_it_takes() -> None:
    chosen = MapFilters(date(2026, 3, 2), date(2026, 3, 8), campaign="spring")
    for part in VIEWS:
        parameters = chosen.parameters(part)
        assert parameters["since"] == "2026-03-02"
        assert parameters["until"] == "2026-03-09", "the last day is included"
        dimensions = {"channel": "", "campaign": "spring", "segment": ""}
        assert (parameters == {**parameters, **dimensions}) == (part in FILTERED)
        sql = view_sql(part, parameters)
        assert sql.startswith(f"SELECT * FROM {VIEWS[part]}(since = {{since:String}}")
        assert all(f"{name} = {{{name}:String}}" in sql for name in parameters)


@pytest.mark.parametrize(
    ("host", "url"), [("0.0.0.0", "http://127.0.0.1:6066"), ("10.1.2.3", "http://10.1.2.3:6066")]
)
def test_the_worker_s_web_address_is_reachable_from_this_machine(host: str, url: str) -> None:
    assert WorkerSettings(web_host=host).web_url == url
