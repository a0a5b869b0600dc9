"""Stage models: shipped presets classify as marketers expect; bad files fail with
the file, the line and the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.stages import StageModel, load_stage_model
from pipeline.settings import STAGE_MODELS
from schemas.touchpoint import Channel, Identities, RawRef, Touchpoint

pytestmark = pytest.mark.unit

STAGES = STAGE_MODELS


def tp(channel: str, action: str, score: float | None = None, **props: str) -> Touchpoint:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return Touchpoint(
        event_id="e",
        event_time=now,
        received_at=now,
        channel=Channel(channel),
        platform="p",
        action=action,
        identities=Identities(user_id="u"),
        score=score,
        properties=props,
        raw=RawRef(topic="t", partition=0, offset=0),
    )


@pytest.fixture(scope="module")
def five() -> StageModel:
    return load_stage_model(STAGES / "default.yml", KNOWN_ACTIONS)


@pytest.mark.parametrize(
    ("channel", "action", "purchases", "stage"),
    [
        ("ads", "ad_impression", 0, "awareness"),
        ("ads", "ad_click", 0, "awareness"),
        ("web", "page_view", 0, "awareness"),
        ("web", "product_view", 0, "consideration"),
        ("chat", "chat_started", 0, "consideration"),
        ("web", "comparison_view", 0, "consideration"),
        ("popup", "popup_submitted", 0, "consideration"),
        ("web", "checkout_started", 0, "decision"),
        ("commerce", "order_placed", 0, "decision"),
        ("commerce", "order_placed", 1, "retention"),
        ("store", "store_purchase", 2, "retention"),
        ("loyalty", "loyalty_signed_up", 1, "retention"),
        ("support", "ticket_opened", 1, "retention"),
        ("feedback", "review_posted", 1, "advocacy"),
        ("feedback", "referral_sent", 1, "advocacy"),
        ("feedback", "social_shared", 1, "advocacy"),
        ("email", "email_delivered", 0, None),
        ("popup", "popup_shown", 0, None),
    ],
)
def test_five_stage_model(
    five: StageModel, channel: str, action: str, purchases: int, stage: str | None
) -> None:
    assert five.classify(tp(channel, action), purchases) == stage


def test_nps_promoters_are_advocates_and_others_retained(five: StageModel) -> None:
    promoter = tp("feedback", "survey_answered", 9, survey_kind="nps")
    passive = tp("feedback", "survey_answered", 7, survey_kind="nps")
    assert five.classify(promoter, 1) == "advocacy"
    assert five.classify(passive, 1) == "retention"


def test_lifecycle_preset() -> None:
    model = load_stage_model(STAGES / "lifecycle.yml", KNOWN_ACTIONS)
    assert model.stages == ("awareness", "acquisition", "onboarding", "engagement", "advocacy")
    assert model.classify(tp("ads", "ad_click")) == "awareness"
    assert model.classify(tp("popup", "popup_submitted")) == "acquisition"
    assert model.classify(tp("commerce", "order_placed"), 0) == "onboarding"
    assert model.classify(tp("commerce", "order_placed"), 1) == "engagement"
    assert model.classify(tp("feedback", "review_posted"), 3) == "advocacy"
    assert model.rank("engagement") == 3


def load(tmp_path: Path, text: str) -> StageModel:
    path = tmp_path / "model.yml"
    path.write_text(text)
    return load_stage_model(path, KNOWN_ACTIONS)


HEAD = "name: t\nstages: [a, b]\nrules:\n"


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("  - stage: c\n    action: ad_click\n", 4, "unknown stage 'c'; the stages are a, b"),
        ("  - stage: a\n    action: ad_clik\n", 4, "'ad_clik' is not an action of any channel"),
        (
            "  - stage: a\n    channel: web\n    action: ad_click\n",
            4,
            "'ad_click' is not an action of channel web",
        ),
        ("  - stage: a\n    channel: tv\n", 4, "unknown channel 'tv'"),
        (
            "  - stage: a\n    channel: ads\n  - stage: b\n    action: ad_click\n",
            6,
            "can never match: the rule on line 4 matches everything it does first",
        ),
        (
            "  - stage: a\n    action_pattern: '(unclosed'\n",
            4,
            "action_pattern '(unclosed' is not a valid regular expression",
        ),
        (
            "  - stage: a\n    action: ad_click\n    properties: {x: '[z-a]'}\n",
            4,
            "properties.x '[z-a]' is not a valid regular expression",
        ),
        (
            "  - stage: a\n    action_pattern: 'tv_.*'\n",
            4,
            "action_pattern 'tv_.*' matches no action",
        ),
        (
            "  - stage: a\n    action: order_placed\n    min_purchases: 3\n    max_purchases: 1\n",
            4,
            "min_purchases is above max_purchases",
        ),
        ("  - stage: a\n    colour: red\n", 4, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_rules_fail_with_file_line_and_reason(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, HEAD + body)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'model.yml'}:{line}: "), message
    assert reason in message


def test_a_duplicate_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.yml:1: stage 'a' is listed twice"):
        load(tmp_path, "name: t\nstages: [a, b, a]\nrules:\n  - stage: a\n")


def test_yaml_errors_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.yml:2: not valid YAML"):
        load(tmp_path, "name: t\nstages: [a\n")
    with pytest.raises(ConfigError, match="cannot read the stage model"):
        load_stage_model(tmp_path / "missing.yml", KNOWN_ACTIONS)
