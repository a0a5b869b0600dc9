"""Rows -> raw import events: constants, value maps, kinds, time formats, and problems that
name the column and the value (but never personal data)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.files.mapping import Mapping, load_mapping
from pipeline.files.readers import Row
from pipeline.files.rows import Problem, RowError, map_row
from pipeline.files.validate import check, encode
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from schemas.touchpoint import Touchpoint

pytestmark = pytest.mark.unit

HASHER = PiiHasher(b"replay-test-key-0123456789")
NOW = datetime(2026, 6, 1, tzinfo=UTC)

BASE = """\
null_values: ["", "NULL"]
fields:
  event_time: {time}
  channel: {{column: src, values: {{Site: web, Shop: commerce}}, unmapped: keep}}
  action:
    column: what
    values: {{View: product_view, Buy: order_placed, Visit: page_view, Skip: null}}
  platform: {{const: ShopExport}}
  user_id: {{column: cust, default: guest}}
  email: mail
  revenue: total
  currency: {{column: cur, default: EUR}}
  score: stars
  campaign.source: utm
  properties.sku: sku
  properties.qty: qty
"""


def mapping(tmp_path: Path, time: str = "ts", text: str = BASE) -> Mapping:
    path = tmp_path / "map.yml"
    path.write_text(text.format(time=time))
    return load_mapping(path)


def row(number: int = 7, **values: Any) -> Row:
    cells = {"ts": "2026-03-01T10:00:00Z", "src": "Site", "what": "View", "cust": "u-1"}
    cells.update(values)
    return Row(number, cells)


def test_a_row_becomes_the_raw_import_event(tmp_path: Path) -> None:
    payload = map_row(
        mapping(tmp_path),
        row(src="Shop", what="Buy", mail="Ann@Example.com", total="129.50", stars="4",
            utm="newsletter", sku="sku-1", qty=2),
        "orders.csv",
    )  # fmt: skip
    assert payload == {
        "event_id": "orders.csv:7",
        "event_time": "2026-03-01T10:00:00+00:00",
        "channel": "commerce",
        "action": "order_placed",
        "platform": "ShopExport",
        "user_id": "u-1",
        "email": "Ann@Example.com",
        "revenue": "129.50",
        "currency": "EUR",
        "score": 4.0,
        "campaign": {"source": "newsletter"},
        "properties": {"sku": "sku-1", "qty": 2},
    }


def test_empty_cells_are_missing_and_defaults_fill_them(tmp_path: Path) -> None:
    payload = map_row(mapping(tmp_path), row(cust="NULL", mail="", sku=" "), "f.csv")
    assert payload["user_id"] == "guest"
    assert "email" not in payload and "properties" not in payload
    assert "revenue" not in payload and payload["currency"] == "EUR"


def test_value_maps_reject_keep_or_empty_what_they_do_not_know(tmp_path: Path) -> None:
    rules = mapping(tmp_path)
    with pytest.raises(RowError) as caught:
        map_row(rules, row(what="Wishlist"), "f.csv")
    assert caught.value.problem == Problem(
        "MappingError",
        "not in the value map (known: Buy, Skip, View, Visit)",
        "action",
        "what",
        "Wishlist",
        True,
    )
    assert str(caught.value) == (
        "column 'what' -> action: value 'Wishlist': not in the value map "
        "(known: Buy, Skip, View, Visit)"
    )
    assert map_row(rules, row(src="email"), "f.csv")["channel"] == "email"  # unmapped: keep
    assert "action" not in map_row(rules, row(what="Skip"), "f.csv")  # mapped to null


@pytest.mark.parametrize(
    ("time", "value", "expected"),
    [
        ("ts", "2026-03-01T11:00:00+01:00", "2026-03-01T11:00:00+01:00"),
        ("ts", "2026-03-01 10:00:00Z", "2026-03-01T10:00:00+00:00"),
        ("ts", "1772359200", "2026-03-01T10:00:00+00:00"),
        ("ts", 1772359200000, "2026-03-01T10:00:00+00:00"),  # above 2e10: milliseconds
        ("{column: ts, format: unix_ms}", "1772359200000", "2026-03-01T10:00:00+00:00"),
        ("{column: ts, format: unix}", 1772359200.5, "2026-03-01T10:00:00.500000+00:00"),
        (
            '{column: ts, format: "%d/%m/%Y %H:%M", timezone: Europe/Berlin}',
            "01/03/2026 11:00",
            "2026-03-01T11:00:00+01:00",
        ),
        (
            "{column: ts, timezone: America/New_York}",
            "2026-07-01T06:00:00",
            "2026-07-01T06:00:00-04:00",
        ),
        ("{column: ts, timezone: UTC}", datetime(2026, 3, 1, 10), "2026-03-01T10:00:00+00:00"),
        ("ts", datetime(2026, 3, 1, 10, tzinfo=UTC), "2026-03-01T10:00:00+00:00"),
    ],
)
def test_event_times_in_every_spelling(
    tmp_path: Path, time: str, value: object, expected: str
) -> None:
    assert map_row(mapping(tmp_path, time), row(ts=value), "f")["event_time"] == expected


@pytest.mark.parametrize(
    ("time", "value", "reason"),
    [
        ("ts", "2026-03-01T10:00:00", "has no time zone: set event_time.timezone in the mapping"),
        ("ts", "yesterday", "not an ISO 8601 time (set event_time.format)"),
        ('{column: ts, format: "%d/%m/%Y", timezone: UTC}', "2026-03-01", "does not match"),
        ("{column: ts, format: unix}", "soon", "could not convert string to float: 'soon'"),
    ],
)
def test_bad_event_times_name_the_column_and_the_value(
    tmp_path: Path, time: str, value: str, reason: str
) -> None:
    with pytest.raises(RowError) as caught:
        map_row(mapping(tmp_path, time), row(ts=value), "f")
    problem = caught.value.problem
    assert (problem.field, problem.column, problem.value) == ("event_time", "ts", value)
    assert reason in problem.reason
    assert f"column 'ts' -> event_time: value {value!r}: " in problem.console()


def test_amounts_and_numbers_must_be_numbers(tmp_path: Path) -> None:
    with pytest.raises(RowError, match=r"column 'total' -> revenue: value '12,50': "):
        map_row(mapping(tmp_path), row(total="12,50"), "f")
    with pytest.raises(RowError, match=r"column 'stars' -> score: value 'five': "):
        map_row(mapping(tmp_path), row(stars="five"), "f")
    assert map_row(mapping(tmp_path), row(total=3), "f")["revenue"] == "3"


def test_problems_never_show_personal_data() -> None:
    problem = Problem("InvalidPersonalData", "not an email address", "email", "mail", "a@b", True)
    assert problem.console() == (
        "column 'mail' -> email: value (personal data, not shown): not an email address"
    )
    assert problem.message() == "column 'mail' -> email: not an email address"
    assert problem.category() == "InvalidPersonalData email (column 'mail')"
    long = Problem("MappingError", "bad", "action", "what", "x" * 200, True)
    assert long.console().endswith("...: bad") and len(long.console()) < 140


def checked(rules: Mapping, payload: dict[str, Any], now: datetime = NOW) -> Touchpoint | Problem:
    record = RawRecord("touchpoints.raw.import", -1, 7, None, encode(payload))
    return check(Normalizer(HASHER), rules, record, payload, now)


def test_a_good_row_is_checked_into_the_touchpoint_the_pipeline_will_make(
    tmp_path: Path,
) -> None:
    rules = mapping(tmp_path)
    payload = map_row(rules, row(src="Shop", what="Buy", mail="Ann@Example.com", total="9.5"), "f")
    touchpoint = checked(rules, payload)
    assert isinstance(touchpoint, Touchpoint)
    assert (touchpoint.event_id, touchpoint.channel, touchpoint.action, touchpoint.platform) == (
        "import:f:7",
        "commerce",
        "order_placed",
        "shopexport",
    )
    assert touchpoint.identities.email_hash == HASHER.email("ann@example.com")


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            {"src": "sms", "what": "View"},
            Problem(
                "ValueError",
                "'product_view' is not an action of channel sms (known: sms_clicked, "
                "sms_delivered, sms_opted_out)",
                "action",
                "what",
                "product_view",
                True,
            ),
        ),
        (
            {"src": "tv"},
            Problem(
                "ValidationError",
                "Input should be 'ads', 'search', 'web', 'chat', 'popup', 'email', 'sms', "
                "'push', 'video', 'commerce', 'loyalty', 'store', 'support' or 'feedback'",
                "channel",
                "src",
                "tv",
                True,
            ),
        ),
        (
            {"mail": "not-an-address"},
            Problem(
                "InvalidPersonalData",
                "not an email address",
                "email",
                "mail",
                "not-an-address",
                True,
            ),
        ),
        (
            {"cur": "euro"},
            Problem(
                "ValidationError",
                "String should match pattern '^[A-Z]{3}$'",
                "currency",
                "cur",
                "euro",
                True,
            ),
        ),
    ],
)
def test_rows_the_pipeline_would_refuse_name_the_field_column_and_value(
    tmp_path: Path, cells: dict[str, str], expected: Problem
) -> None:
    rules = mapping(tmp_path)
    payload = map_row(rules, row(**cells), "f")
    assert checked(rules, payload) == expected


def test_a_row_without_any_identifier_or_too_old_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("  user_id: {{column: cust, default: guest}}\n", "  user_id: cust\n")
    rules = mapping(tmp_path, text=text)
    payload = map_row(rules, row(cust=""), "f")
    problem = checked(rules, payload)
    assert isinstance(problem, Problem)
    assert (problem.error_type, problem.field) == ("ValidationError", None)
    assert problem.reason.startswith("an identifier is required: user_id, anonymous_id")
    old = checked(rules, map_row(rules, row(ts="2019-01-01T00:00:00Z"), "f"))
    assert isinstance(old, Problem)
    assert (old.error_type, old.field, old.column) == ("EventTimeOutOfRange", "event_time", "ts")
