"""Bring your own events: an export's own event names survive import as property `event`
(no value map), stage rules and funnel steps match them with `event:`, and the channel can
be the acquisition channel, as `custom_event` is an action of every channel."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.files.mapping import Mapping, load_mapping
from pipeline.files.readers import Row
from pipeline.files.rows import map_row
from pipeline.files.validate import check, encode
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.engine import EngineConfig
from pipeline.journeys.stages import load_stage_model
from pipeline.metrics.windows import contributions
from schemas.touchpoint import Touchpoint
from tests.factories import run

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)

#: A clickstream export: every event on the shop's site, the channel where the visit came
#: from (utm_medium), the shop's own event names.
MAPPING = """\
fields:
  event_time: ts
  channel: {column: medium, values: {cpc: ads, email: email, organic: search}, default: web}
  event: name
  user_id: customer
"""

MODEL = """\
name: own-events
stages: [browsing, paying, bought]
rules:
  - stage: bought
    event: [order_placed, order_completed]
  - stage: paying
    event: payment_details
  - stage: browsing
    action: custom_event
funnel:
  - step: cart
    event: cart_viewed
  - step: payment
    event: payment_details
  - step: purchase
    event: [order_placed, order_completed]
"""


def mapping(tmp_path: Path, text: str = MAPPING) -> Mapping:
    path = tmp_path / "map.yml"
    path.write_text(text)
    return load_mapping(path)


def imported(rules: Mapping, number: int, **cells: str) -> Touchpoint:
    payload = map_row(rules, Row(number, {"ts": "2026-03-01T10:00:00Z", **cells}), "shop.csv")
    record = RawRecord("touchpoints.raw.import", 0, number, None, encode(payload))
    touchpoint = check(Normalizer(PiiHasher(b"own-events-key-0123456789")), rules, record,
                       payload, NOW)  # fmt: skip
    assert isinstance(touchpoint, Touchpoint), touchpoint
    return touchpoint


def test_an_own_event_is_kept_and_any_channel_takes_it(tmp_path: Path) -> None:
    rules = mapping(tmp_path)
    paid = imported(rules, 1, name="payment_details", medium="email", customer="u-1")
    assert (paid.channel, paid.action, paid.properties["event"]) == (
        "email",
        "custom_event",
        "payment_details",
    )
    came_from_ads = imported(rules, 2, name="Viewed product", medium="cpc", customer="u-1")
    assert (came_from_ads.channel, came_from_ads.properties["event"]) == ("ads", "Viewed product")


def test_an_action_and_an_event_can_come_together(tmp_path: Path) -> None:
    rules = mapping(
        tmp_path,
        MAPPING.replace(
            "  event: name\n",
            "  event: name\n  action: {column: name, values: {order_placed: order_placed},"
            " unmapped: empty}\n",
        ).replace("default: web}", "default: commerce}"),
    )
    order = imported(rules, 1, name="order_placed", customer="u-1")
    assert (order.channel, order.action, order.properties["event"]) == (
        "commerce",
        "order_placed",
        "order_placed",
    )
    other = imported(rules, 2, name="coupon_applied", customer="u-1")
    assert (other.action, other.properties["event"]) == ("custom_event", "coupon_applied")


def test_a_mapping_needs_an_action_or_an_event(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fields.action: required \(or fields.event\)"):
        mapping(tmp_path, MAPPING.replace("  event: name\n", ""))


def test_stage_rules_and_funnel_steps_match_own_event_names(tmp_path: Path) -> None:
    (tmp_path / "model.yml").write_text(MODEL)
    model = load_stage_model(tmp_path / "model.yml", KNOWN_ACTIONS)
    config = EngineConfig(stage_model=model)
    rules = mapping(tmp_path)
    names = ["landing", "cart_viewed", "payment_details", "order_completed"]
    visit = [
        imported(rules, i, name=name, customer="u-1", ts=f"2026-03-01T10:0{i}:00Z")
        for i, name in enumerate(names)
    ]
    assert [model.classify(t) for t in visit] == ["browsing", "browsing", "paying", "bought"]
    out, _ = run(visit, config)
    (session,) = out.settled
    assert session.funnel_reached == ["cart", "payment", "purchase"]
    counted = Counter(
        (name, metric)
        for _, (dimension, _value, name, metric) in contributions([], out.settled)
        if dimension == "all"
    )
    assert counted["payment", "passed"] == 1 and counted["purchase", "passed"] == 1
