"""Session funnels beside journey stages: steps declared in the stage model, reached in
order within a session, counted per session (so a repeat buyer's later sessions count
as much as their first), watched by the detector like stages; bad steps fail at load."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.engine import EngineConfig, Outputs
from pipeline.journeys.stages import StageModel, load_stage_model
from pipeline.metrics.windows import contributions
from tests.factories import engine_config, run, touchpoint

pytestmark = pytest.mark.unit

HOUR, DAY = timedelta(hours=1), timedelta(days=1)

FUNNEL = """
name: shop
stages: [browsing, buying, bought]
rules:
  - stage: bought
    action: order_placed
  - stage: buying
    action: [add_to_cart, checkout_started]
  - stage: browsing
    channel: web
funnel:
  - step: cart
    action: add_to_cart
  - step: checkout
    action: checkout_started
  - step: paid
    action: order_placed
"""


def load(tmp_path: Path, text: str) -> StageModel:
    path = tmp_path / "model.yml"
    path.write_text(text)
    return load_stage_model(path, KNOWN_ACTIONS)


@pytest.fixture
def config(tmp_path: Path) -> EngineConfig:
    return EngineConfig(stage_model=load(tmp_path, FUNNEL))


def counted(out: Outputs) -> Counter[tuple[str, str]]:
    """(stage or step, metric) -> sessions, for everyone."""
    found: Counter[tuple[str, str]] = Counter()
    for _, (dimension, _value, name, metric) in contributions([], out.settled):
        if dimension == "all" and metric != "entered":
            found[name, metric] += 1
    return found


def test_the_shipped_model_declares_a_funnel_apart_from_its_stages() -> None:
    model = engine_config().stage_model
    assert len(model.funnel_steps) >= 3
    assert not set(model.funnel_steps) & set(model.stages)


def test_a_repeat_buyer_counts_in_the_funnel_every_session_but_at_a_stage_once(
    config: EngineConfig,
) -> None:
    buy = ["page_view", "add_to_cart", "checkout_started", "order_placed"]
    visits = [
        touchpoint(action, day * DAY + minute * timedelta(minutes=5))
        for day in range(3)
        for minute, action in enumerate(buy if day != 1 else buy[:3])  # day 1: no payment
    ]
    out, _ = run(visits, config)
    sessions = [s for s in out.settled]
    assert [s.funnel_reached for s in sessions] == [
        ["cart", "checkout", "paid"],
        ["cart", "checkout"],
        ["cart", "checkout", "paid"],
    ]
    assert [s.funnel_dropped_at for s in sessions] == [None, "checkout", None]
    found = counted(out)
    # The funnel: three sessions reached checkout, two went on to pay.
    assert found["checkout", "passed"] == 2 and found["checkout", "dropped_off"] == 1
    assert found["cart", "passed"] == 3 and found["paid", "passed"] == 2
    # The stages: the customer reached `buying` once; later sessions start past it.
    assert found["buying", "passed"] == 1
    assert found["buying", "dropped_off"] == 0


def test_steps_count_only_in_order_within_one_session(config: EngineConfig) -> None:
    out, _ = run(
        [
            touchpoint("checkout_started", 0 * HOUR),  # before the cart: not a step yet
            touchpoint("add_to_cart", timedelta(minutes=1)),
            touchpoint("order_placed", timedelta(minutes=2)),  # skips checkout: no step
            touchpoint("add_to_cart", 2 * HOUR),  # a new session starts from the top
        ],
        config,
    )
    assert [(s.funnel_reached, s.funnel_dropped_at) for s in out.settled] == [
        (["cart"], "cart"),
        (["cart"], "cart"),
    ]


def test_a_late_touchpoint_does_not_change_a_closed_sessions_funnel(
    config: EngineConfig,
) -> None:
    out, _ = run(
        [
            touchpoint("add_to_cart", 0 * HOUR, event_id="a"),
            touchpoint("page_view", 3 * HOUR, event_id="b"),  # closes the first session
            touchpoint("checkout_started", timedelta(minutes=5), event_id="late"),
        ],
        config,
    )
    first = [s for s in out.sessions if s.entry_event_id == "a"]
    assert first[-1].touchpoints == 2 and first[-1].is_late
    assert {tuple(s.funnel_reached) for s in first} == {("cart",)}
    assert counted(out)["cart", "dropped_off"] == 1


@pytest.mark.parametrize(
    ("funnel", "line", "reason"),
    [
        ("  - step: cart\n    action: add_to_cart\n", 1, "a funnel has at least two steps"),
        (
            "  - step: buying\n    action: add_to_cart\n  - step: x\n    action: order_placed\n",
            11,
            "funnel step 'buying' has a stage's name",
        ),
        (
            "  - step: x\n    action: add_to_cart\n  - step: x\n    action: order_placed\n",
            11,
            "funnel step 'x' is listed twice",
        ),
        (
            "  - step: x\n    action: add_to_kart\n  - step: y\n    action: order_placed\n",
            11,
            "'add_to_kart' is not an action of any channel",
        ),
        ("  - action: add_to_cart\n  - step: y\n    action: order_placed\n", 11, "step: "),
    ],
)
def test_bad_funnel_steps_fail_with_file_line_and_reason(
    tmp_path: Path, funnel: str, line: int, reason: str
) -> None:
    head = FUNNEL.split("funnel:", maxsplit=1)[0].lstrip("\n") + "funnel:\n"
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, head + funnel)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'model.yml'}:{line}: "), message
    assert reason in message


def test_a_models_own_dimensions_break_sessions_down_by_their_entry(tmp_path: Path) -> None:
    model = load(tmp_path, FUNNEL + "dimensions: [device]\n")
    out, _ = run(
        [
            touchpoint("add_to_cart", 0 * HOUR, device="mobile"),
            touchpoint("checkout_started", timedelta(minutes=2), device="desktop"),
            touchpoint("page_view", 3 * HOUR),  # no device: counted as (none)
        ],
        EngineConfig(stage_model=model),
    )
    assert [s.dimensions for s in out.settled] == [{"device": "mobile"}, {"device": ""}]
    by_device = Counter(
        (value, name, metric)
        for _, (dimension, value, name, metric) in contributions([], out.settled)
        if dimension == "device"
    )
    assert by_device == {
        ("mobile", "cart", "passed"): 1,
        ("mobile", "checkout", "dropped_off"): 1,
        ("mobile", "buying", "dropped_off"): 1,
        ("(none)", "buying", "dropped_off"): 1,
    }


@pytest.mark.parametrize("name", ["channel", "Device"])
def test_a_model_dimension_must_be_another_property_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"dimensions: '{name}' must be a property name"):
        load(tmp_path, FUNNEL + f"dimensions: [{name}]\n")
