"""Attribution models on hand-worked paths: credits sum exactly to the conversion and its
revenue, ties and single touches, lookback edges; the Markov removal effect against an
independent solution of the absorbing chain (matrix algebra, numpy) on thousands of
generated paths."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from pipeline.attribution.heuristics import (
    AttributionConfig,
    Model,
    Touch,
    apportion,
    credit,
    path_within,
)
from pipeline.attribution.markov import CONVERSION, NULL, START, removal_effects, transitions
from pipeline.errors import ConfigError
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.engine import EngineConfig
from pipeline.journeys.stages import load_stage_model
from pipeline.settings import STAGE_MODELS, load_settings
from tests.factories import engine_config, run, touchpoint

pytestmark = pytest.mark.unit

CONVERTED = datetime(2026, 3, 20, 12, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)

#: An ad, an email a week later, a direct visit, then the purchase.
PATH = [
    Touch("a", CONVERTED - 14 * DAY, "ads", "spring"),
    Touch("b", CONVERTED - 7 * DAY, "email", "newsletter"),
    Touch("c", CONVERTED - 1 * DAY, "web"),
]


def shares(
    model: Model, path: list[Touch] = PATH, revenue: str = "100.00"
) -> list[tuple[str, str]]:
    return [
        (str(c.conversions), str(c.revenue))
        for c in credit(path, CONVERTED, Decimal(revenue), model)
    ]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            Model.FIRST_TOUCH,
            [("1.000000", "100.0000"), ("0.000000", "0.0000"), ("0.000000", "0.0000")],
        ),
        (
            Model.LAST_TOUCH,
            [("0.000000", "0.0000"), ("0.000000", "0.0000"), ("1.000000", "100.0000")],
        ),
        # The last touch is a direct visit: the email before it gets the credit.
        (
            Model.LAST_NON_DIRECT,
            [("0.000000", "0.0000"), ("1.000000", "100.0000"), ("0.000000", "0.0000")],
        ),
        # Thirds: the millionth and the cent left over go to the latest touch.
        (
            Model.LINEAR,
            [("0.333333", "33.3333"), ("0.333333", "33.3333"), ("0.333334", "33.3334")],
        ),
        # 40/20/40.
        (
            Model.POSITION_BASED,
            [("0.400000", "40.0000"), ("0.200000", "20.0000"), ("0.400000", "40.0000")],
        ),
        # Half-life 7 days: weights 1/4, 1/2, 2^(-1/7) = 0.905724, normalised by 1.655724:
        # 150991.38, 301982.76, 547025.86 millionths; the two units left go to .86 and .76.
        (
            Model.TIME_DECAY,
            [("0.150991", "15.0991"), ("0.301983", "30.1983"), ("0.547026", "54.7026")],
        ),
    ],
)
def test_each_heuristic_model_on_a_hand_worked_path(
    model: Model, expected: list[tuple[str, str]]
) -> None:
    assert shares(model) == expected


@pytest.mark.parametrize("model", list(Model))
@pytest.mark.parametrize("revenue", ["129.99", "0.01", "0", "-45.00"])
def test_credits_sum_exactly_to_the_conversion_and_its_revenue(model: Model, revenue: str) -> None:
    rng = random.Random(revenue)
    for n in range(1, 12):
        path = sorted(
            (
                Touch(f"e{i}", CONVERTED - timedelta(hours=rng.randint(0, 700)), rng.choice(
                    ["ads", "email", "web", "search"]), rng.choice([None, "spring"]))
                for i in range(n)
            ),
            key=lambda t: (t.at, t.event_id),
        )  # fmt: skip
        credits = credit(path, CONVERTED, Decimal(revenue), model)
        assert sum(c.conversions for c in credits) == 1
        assert sum(c.revenue for c in credits) == Decimal(revenue)


@pytest.mark.parametrize("model", list(Model))
def test_a_single_touch_earns_everything(model: Model) -> None:
    [only] = credit(PATH[:1], CONVERTED, Decimal("10"), model)
    assert (only.conversions, only.revenue) == (1, 10)


def test_two_touches_share_half_each_in_the_position_based_model() -> None:
    assert shares(Model.POSITION_BASED, PATH[:2]) == [
        ("0.500000", "50.0000"),
        ("0.500000", "50.0000"),
    ]


def test_touches_at_the_same_time_share_a_time_decay_weight_evenly() -> None:
    tied = [Touch("x", CONVERTED - DAY, "ads"), Touch("y", CONVERTED - DAY, "email")]
    assert shares(Model.TIME_DECAY, tied) == [("0.500000", "50.0000"), ("0.500000", "50.0000")]


def test_the_lookback_keeps_its_edges_and_the_previous_conversion_cuts_the_path() -> None:
    lookback = 14 * DAY
    touches = [
        Touch("too-old", CONVERTED - lookback - timedelta(seconds=1), "ads"),
        Touch("edge", CONVERTED - lookback, "ads"),
        Touch("before-previous", CONVERTED - 3 * DAY, "email"),
        Touch("after-previous", CONVERTED - 2 * DAY, "search"),
        Touch("at-conversion", CONVERTED, "web"),
        Touch("after", CONVERTED + timedelta(seconds=1), "web"),
    ]
    within = path_within(touches, CONVERTED, lookback, since=None)
    assert [t.event_id for t in within] == [
        "edge",
        "before-previous",
        "after-previous",
        "at-conversion",
    ]
    since = path_within(touches, CONVERTED, lookback, since=CONVERTED - 3 * DAY)
    assert [t.event_id for t in since] == ["after-previous", "at-conversion"]


def test_apportion_gives_the_units_left_to_the_largest_remainders() -> None:
    assert apportion(Decimal("1.00"), [0.5, 0.25, 0.25], Decimal("0.01")) == [
        Decimal("0.50"),
        Decimal("0.25"),
        Decimal("0.25"),
    ]
    assert sum(apportion(Decimal("0.05"), [1 / 3] * 3, Decimal("0.01"))) == Decimal("0.05")


def test_settings_change_the_half_life_and_the_position_shares() -> None:
    settings = AttributionConfig(half_life=DAY, first_share=0.3, last_share=0.5)
    by_position = credit(PATH, CONVERTED, Decimal(1), Model.POSITION_BASED, settings)
    assert [str(c.conversions) for c in by_position] == ["0.300000", "0.200000", "0.500000"]
    decayed = credit(PATH, CONVERTED, Decimal(1), Model.TIME_DECAY, settings)
    assert decayed[-1].conversions > Decimal("0.98")  # 2^-1 against 2^-7 and 2^-14


# ── Markov ──────────────────────────────────────────────────────────────────────────


def test_the_removal_effects_of_a_hand_worked_chain() -> None:
    # start -> C1 2/3, C2 1/3; C1 -> C2 1/2, null 1/2; C2 -> C3; C3 -> conversion 1/2.
    # P(conversion) = 2/3 * 1/2 * 1/2 + 1/3 * 1/2 = 1/3. Without C1: 1/6, effect 1/2;
    # without C2 or C3: 0, effect 1. Credit 1/2.5, 1/2.5, 1/2.5 of one conversion... by
    # effect: C1 0.2, C2 0.4, C3 0.4.
    result = removal_effects([(["C1", "C2", "C3"], True), (["C1"], False), (["C2", "C3"], False)])
    assert result.conversion_probability == pytest.approx(1 / 3)
    assert result.removal_effects == pytest.approx({"C1": 0.5, "C2": 1.0, "C3": 1.0})
    assert result.attributed == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4})
    assert (result.paths, result.conversions) == (3, 1)


def solved_by_matrix(paths: list[tuple[list[str], bool]], removed: str | None) -> float:
    """P(conversion from start), by solving (I - Q) x = R for the absorbing chain."""
    counts = transitions(paths)
    transient = sorted(s for s in counts if s != removed)
    index = {s: i for i, s in enumerate(transient)}
    q = np.zeros((len(transient), len(transient)))
    r = np.zeros(len(transient))
    for state in transient:
        total = sum(counts[state].values())
        for there, n in counts[state].items():
            if there == CONVERSION:
                r[index[state]] += n / total
            elif there not in (NULL, removed):
                q[index[state], index[there]] += n / total
    x = np.linalg.solve(np.eye(len(transient)) - q, r)
    return float(x[index[START]])


def test_removal_effects_agree_with_the_absorbing_chain_solved_by_matrix_algebra() -> None:
    rng = random.Random(17)
    channels = ["ads", "search", "email", "web", "sms", "push", "video", "popup"]
    # A random first-order chain to walk: each channel's next steps and its conversion
    # and exit chances.
    going = {c: [rng.random() for _ in channels] for c in [START, *channels]}
    paths: list[tuple[list[str], bool]] = []
    for _ in range(5000):
        path, here = [], START
        while True:
            here = rng.choices(channels, going[here])[0]
            path.append(here)
            roll = rng.random()
            if roll < 0.08 + 0.02 * channels.index(here):
                paths.append((path, True))
                break
            if roll > 0.75:
                paths.append((path, False))
                break
    result = removal_effects(paths)
    base = solved_by_matrix(paths, None)
    assert result.conversion_probability == pytest.approx(base, rel=1e-9)
    for channel in channels:
        expected = 1 - solved_by_matrix(paths, channel) / base
        assert result.removal_effects[channel] == pytest.approx(expected, rel=0.005)
    assert sum(result.attributed.values()) == pytest.approx(result.conversions)


# ── live, in the journey engine ─────────────────────────────────────────────────────


def test_a_purchase_is_credited_by_every_model_when_the_engine_applies_it() -> None:
    # Three visits (an ad, an email, a direct one); the touches are the visits' entries.
    out, _ = run(
        [
            touchpoint("ad_click", 0 * DAY, campaign="spring", event_id="ad"),
            touchpoint("page_view", 5 * MINUTE, event_id="ad-visit"),  # the same visit
            touchpoint("email_clicked", 2 * DAY, campaign="newsletter", event_id="mail"),
            touchpoint("page_view", 3 * DAY, event_id="direct"),
            touchpoint("checkout_started", 3 * DAY + 5 * MINUTE, event_id="checkout"),
            touchpoint("order_placed", 3 * DAY + 10 * MINUTE, revenue="90.00", event_id="order"),
        ]
    )
    by_model: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    for c in out.credits:
        assert (c.conversion_id, c.customer_id) == ("order", "u-1")
        by_model.setdefault(c.model, {})[c.touch_event_id] = (c.conversions, c.revenue)
    assert set(by_model) == {m.value for m in Model}
    for model, credits in by_model.items():
        assert set(credits) == {"ad", "mail", "direct"}, model  # visits, not each page
        assert sum(n for n, _ in credits.values()) == 1
        assert sum(r for _, r in credits.values()) == Decimal("90.00")
    assert by_model["first_touch"]["ad"] == (1, 90)
    assert by_model["last_touch"]["direct"] == (1, 90)
    assert by_model["last_non_direct"]["mail"] == (1, 90)
    assert {c.channel for c in out.credits} == {"ads", "email", "web"}


def test_a_late_touch_in_the_lookback_credits_the_purchase_again_as_a_new_version() -> None:
    out, _ = run(
        [
            touchpoint("email_clicked", 0 * DAY, event_id="mail"),
            touchpoint("order_placed", 10 * MINUTE, revenue="10.00", event_id="order"),
            touchpoint("page_view", 3 * HOUR, event_id="later"),  # the watermark moves on
            # Late, a visit of its own two days before: a touch of the purchase's path.
            touchpoint("ad_click", -2 * DAY, campaign="spring", event_id="late-ad"),
            # Late too, but inside the purchase's session: not a touch of its own.
            touchpoint("email_opened", 5 * MINUTE, event_id="late-open"),
        ]
    )
    first = {c.version for c in out.credits if c.touch_event_id == "mail"}
    assert len(first) == 2, "credited at the purchase, and again after the late touch"
    latest = max(first)
    linear = [c for c in out.credits if c.model == "linear" and c.version == latest]
    assert {c.touch_event_id: str(c.conversions) for c in linear} == {
        "mail": "0.500000",
        "late-ad": "0.500000",
    }


def test_a_late_purchase_starts_the_next_purchases_path_again_when_paths_stop_at_one() -> None:
    feed = [
        touchpoint("ad_click", 0 * DAY, campaign="spring", event_id="ad"),
        touchpoint("email_clicked", 3 * DAY, campaign="newsletter", event_id="mail"),
        touchpoint("order_placed", 3 * DAY + 10 * MINUTE, revenue="40.00", event_id="second"),
        touchpoint("page_view", 4 * DAY, event_id="later"),  # the watermark moves on
        # Late: a visit and a purchase in it the day after the ad.
        touchpoint("page_view", 1 * DAY, event_id="late-visit"),
        touchpoint("order_placed", 1 * DAY + 5 * MINUTE, revenue="25.00", event_id="first"),
    ]

    def latest_linear(since_previous: bool) -> dict[str, dict[str, str]]:
        config = engine_config(
            attribution=AttributionConfig(since_previous_conversion=since_previous)
        )
        out, _ = run(feed, config)
        latest = {}
        for c in out.credits:
            latest[c.conversion_id] = max(latest.get(c.conversion_id, 0), c.version)
        return {
            conversion: {
                c.touch_event_id: str(c.conversions)
                for c in out.credits
                if c.conversion_id == conversion and c.version == version and c.model == "linear"
            }
            for conversion, version in latest.items()
        }

    # Paths after the previous purchase: the late one now ends the second one's path
    # before the late visit and the ad, so the second is credited again to the email alone.
    assert latest_linear(since_previous=True) == {
        "first": {"ad": "0.500000", "late-visit": "0.500000"},
        "second": {"mail": "1.000000"},
    }
    # Otherwise the late visit joins the second purchase's path, and the late purchase
    # changes nothing else.
    assert latest_linear(since_previous=False) == {
        "first": {"ad": "0.500000", "late-visit": "0.500000"},
        "second": {"ad": "0.333333", "late-visit": "0.333333", "mail": "0.333334"},
    }


def test_attribution_is_off_when_disabled_and_shares_must_fit() -> None:
    out, _ = run(
        [touchpoint("ad_click", 0 * DAY), touchpoint("order_placed", HOUR, revenue="1.00")],
        engine_config(attribution=None),
    )
    assert out.credits == []
    with pytest.raises(ConfigError, match="JOURNEYS_ATTRIBUTION_LAST_SHARE"):
        load_settings(attribution={"first_share": 0.7, "last_share": 0.4})


def test_reaching_a_conversion_goal_stage_is_a_conversion_worth_no_revenue(
    tmp_path: Path,
) -> None:
    text = (STAGE_MODELS / "default.yml").read_text() + "conversion_goals: [decision]\n"
    (tmp_path / "model.yml").write_text(text)
    model = load_stage_model(tmp_path / "model.yml", KNOWN_ACTIONS)
    out, _ = run(
        [
            touchpoint("ad_click", 0 * DAY, campaign="spring", event_id="ad"),
            touchpoint("add_to_cart", DAY, event_id="cart"),  # enters decision: a goal
            touchpoint("order_placed", DAY + MINUTE, revenue="5.00", event_id="order"),
        ],
        EngineConfig(stage_model=model),
    )
    goals = {(c.goal, c.conversion_id) for c in out.credits}
    assert goals == {("decision", "decision:cart"), ("purchase", "order")}
    reached = [c for c in out.credits if c.goal == "decision" and c.model == "linear"]
    assert sum(c.conversions for c in reached) == 1 and sum(c.revenue for c in reached) == 0
    (tmp_path / "bad.yml").write_text(text.replace("[decision]", "[buying]"))
    with pytest.raises(ConfigError, match="conversion_goals: 'buying' is not a stage"):
        load_stage_model(tmp_path / "bad.yml", KNOWN_ACTIONS)
