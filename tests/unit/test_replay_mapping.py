"""Mapping files: what they accept, and errors that name the file, line, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.files.mapping import load_mapping

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
fields:
  event_time: ts
  channel: {const: web}
  action: {const: page_view}
  anonymous_id: cookie
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.yml"
    path.write_text(text)
    return path


def test_a_minimal_mapping_reads_columns_and_constants(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, MINIMAL))
    assert mapping.format is None
    assert mapping.null_values == frozenset({""})
    assert mapping.columns() == ["ts", "cookie"]
    channel = mapping.rule("channel")
    assert channel is not None and (channel.column, channel.const) == (None, "web")
    time = mapping.rule("event_time")
    assert time is not None and (time.kind, time.column, time.line) == ("time", "ts", 2)


def test_the_shipped_examples_load() -> None:
    for path in [
        *sorted((REPO / "deploy" / "mappings").glob("*.yml")),
        REPO / "tests" / "fixtures" / "replay" / "shop_export.yml",
    ]:
        mapping = load_mapping(path)
        assert mapping.rule("action") is not None, path


def test_rules_with_value_maps_time_formats_and_csv_dialect(tmp_path: Path) -> None:
    mapping = load_mapping(
        write(
            tmp_path,
            """\
format: csv
csv: {delimiter: ";", encoding: latin-1}
null_values: ["", "NULL"]
fields:
  event_time: {column: when, format: "%d.%m.%Y %H:%M", timezone: Europe/Berlin}
  channel: {column: src, values: {Shop: commerce, Site: web}}
  action: {column: what, values: {Buy: order_placed, Look: product_view, 1: page_view}}
  user_id: {column: cust, default: guest}
  campaign.source: utm
  properties.sku: sku
""",
        )
    )
    assert mapping.format == "csv"
    assert (mapping.csv.delimiter, mapping.csv.encoding) == (";", "latin-1")
    assert mapping.null_values == frozenset({"", "NULL"})
    action = mapping.rule("action")
    assert action is not None and action.values == {
        "Buy": "order_placed",
        "Look": "product_view",
        "1": "page_view",
    }
    time = mapping.rule("event_time")
    assert time is not None and time.time_format == "%d.%m.%Y %H:%M"
    assert str(time.timezone) == "Europe/Berlin"
    sku = mapping.rule("properties.sku")
    assert sku is not None and sku.kind == "scalar"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fields: [1]\n", r"map.yml:1: fields: required: a mapping"),
        ("colour: red\n" + MINIMAL, r":1: colour: unknown key; expected csv, fields, format"),
        ("format: xlsx\n" + MINIMAL, r"format: 'xlsx' is not one of csv, jsonl, parquet"),
        (MINIMAL.replace("event_time: ts", "when: ts"), r":2: fields.when: unknown field; "),
        (MINIMAL.replace("  event_time: ts\n", ""), r"fields.event_time: required"),
        (
            MINIMAL.replace("anonymous_id: cookie", "platform: {const: ga}"),
            r"fields: map at least one identifier: user_id, anonymous_id, email",
        ),
        (
            MINIMAL.replace("{const: web}", "{const: web, column: c}"),
            r":3: fields.channel: give exactly one of column and const",
        ),
        (MINIMAL.replace("{const: web}", "{const: tv}"), r"fields.channel: 'tv' is not a channel"),
        (
            MINIMAL.replace("{const: page_view}", "{const: order_placed}"),
            r":4: fields.action: 'order_placed' is not an action of channel web",
        ),
        (
            MINIMAL.replace("{const: page_view}", "{column: a, values: {Buy: purchase}}"),
            r"fields.action: 'purchase' is not an action of channel web",
        ),
        (
            MINIMAL.replace("ts", "{column: ts, timezone: Mars/Olympus}"),
            r":2: fields.event_time.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            MINIMAL.replace("ts", "{column: ts, format: dd/mm/yyyy}"),
            r"fields.event_time.format: expected iso, unix, unix_ms or a strptime format",
        ),
        (MINIMAL.replace("ts", "{const: 2026}"), r"fields.event_time: event time must come from"),
        (
            MINIMAL + "  revenue: {column: r, format: iso}\n",
            r"fields.revenue: format and timezone apply to event_time only",
        ),
        (
            MINIMAL + "  properties.Product-Id: p\n",
            r":6: fields.properties.Product-Id: property names are snake_case",
        ),
        (
            MINIMAL.replace("{const: page_view}", "{column: a, values: {yes: page_view}}"),
            r"fields.action.values: key True is not text: quote it",
        ),
        (MINIMAL + "  user_id: {column: u, colour: red}\n", r"fields.user_id.colour: unknown key"),
        (MINIMAL + "  user_id: {column: u, unmapped: drop}\n", r"must be reject, keep or empty"),
        (MINIMAL + "  score: {const: high}\n", r"fields.score.const: 'high' is not a number value"),
        (
            MINIMAL + "  revenue: {column: r, default: [1]}\n",
            r"fields.revenue.default: \[1\] is not",
        ),
        ("csv: {delimiter: ';;'}\n" + MINIMAL, r"csv.delimiter: must be one character"),
        ("csv: {encoding: klingon}\n" + MINIMAL, r"csv.encoding: unknown encoding 'klingon'"),
        ("fields: {a: [\n", r"map.yml:\d+: not valid YAML"),
    ],
)
def test_invalid_mappings_are_refused_naming_line_key_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_mapping(write(tmp_path, text))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothing.yml: cannot read the mapping"):
        load_mapping(tmp_path / "nothing.yml")
