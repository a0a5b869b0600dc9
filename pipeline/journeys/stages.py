"""Stage models: an ordered list of journey stages and the rules that place touchpoints.

A stage model is data (see stage_models/*.yml beside this module). Loading checks it
thoroughly and fails with the file, the line and the reason: an unknown or duplicate
stage, a bad regular expression, a rule naming a channel or action that does not exist, a
rule that an earlier rule always wins over, or purchase bounds that cannot both hold.

A model may also declare a funnel: ordered steps, each a rule named by `step`, counted per
session (a session reaches a step once it reached the ones before it), beside the
customer's stages, which only ever move forward.

Usage:
    model = load_stage_model(STAGE_MODELS / "default.yml", KNOWN_ACTIONS)
    model.classify(touchpoint, purchases_before=0)       # -> "awareness" | ... | None
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import ConfigError
from pipeline.metrics.windows import BUILT_IN_DIMENSIONS
from pipeline.yamlfile import LINE as _LINE
from pipeline.yamlfile import load_yaml_mapping
from schemas.touchpoint import Touchpoint


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    channel: tuple[str, ...] | None = None
    action: tuple[str, ...] | None = None
    action_pattern: str | None = None
    event: tuple[str, ...] | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    min_purchases: int | None = Field(default=None, ge=0)
    max_purchases: int | None = Field(default=None, ge=0)
    min_score: float | None = None
    max_score: float | None = None

    @field_validator("channel", "action", "event", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_tuple(value) if isinstance(value, str | list) or value is None else value

    @field_validator("properties", mode="before")
    @classmethod
    def _drop_line(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: item for key, item in value.items() if key != _LINE}
        return value


class StageModelSpec(BaseModel):
    """The file's top level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    stages: tuple[str, ...] = Field(min_length=1)
    purchase_actions: tuple[str, ...] = ("order_placed", "store_purchase")
    rules: tuple[dict[str, Any], ...] = Field(min_length=1)
    funnel: tuple[dict[str, Any], ...] = ()
    dimensions: tuple[str, ...] = ()
    conversion_goals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A checked rule, ready to match."""

    stage: str
    channels: frozenset[str] | None
    actions: frozenset[str] | None
    action_pattern: re.Pattern[str] | None
    events: frozenset[str] | None  # the source's own event names (property `event`)
    properties: tuple[tuple[str, re.Pattern[str]], ...]
    min_purchases: int | None
    max_purchases: int | None
    min_score: float | None
    max_score: float | None
    line: int

    def matches(self, touchpoint: Touchpoint, purchases_before: int) -> bool:
        score = touchpoint.score
        return (
            (self.channels is None or touchpoint.channel.value in self.channels)
            and (self.actions is None or touchpoint.action in self.actions)
            and (
                self.action_pattern is None
                or bool(self.action_pattern.fullmatch(touchpoint.action))
            )
            and (self.events is None or touchpoint.properties.get("event") in self.events)
            and (self.min_purchases is None or purchases_before >= self.min_purchases)
            and (self.max_purchases is None or purchases_before <= self.max_purchases)
            and (self.min_score is None or (score is not None and score >= self.min_score))
            and (self.max_score is None or (score is not None and score <= self.max_score))
            and all(
                pattern.fullmatch(touchpoint.properties.get(name, "\x00")) is not None
                for name, pattern in self.properties
            )
        )

    def unconditional(self) -> bool:
        """True when only channel and action decide (nothing narrows it further)."""
        return (
            self.action_pattern is None
            and self.events is None
            and not self.properties
            and self.min_purchases is None
            and self.max_purchases is None
            and self.min_score is None
            and self.max_score is None
        )


@dataclass(frozen=True)
class StageModel:
    """An ordered list of stages and the rules that map touchpoints onto them."""

    name: str
    stages: tuple[str, ...]
    rules: tuple[Rule, ...]
    purchase_actions: frozenset[str]
    funnel: tuple[Rule, ...] = ()  # the funnel's steps, in order (each rule's stage: its name)
    # Touchpoint properties that counts and alert explanations break sessions down by
    # (the entry touchpoint's), beside channel, campaign and segment.
    dimensions: tuple[str, ...] = ()
    # Stages whose first reaching is a conversion too (attribution), beside purchases.
    conversion_goals: tuple[str, ...] = ()

    @property
    def funnel_steps(self) -> tuple[str, ...]:
        return tuple(step.stage for step in self.funnel)

    def next_step(self, reached: int, touchpoint: Touchpoint, purchases_before: int) -> bool:
        """Whether `touchpoint` takes a session that reached `reached` funnel steps to the
        next one."""
        funnel = self.funnel
        return reached < len(funnel) and funnel[reached].matches(touchpoint, purchases_before)

    def classify(self, touchpoint: Touchpoint, purchases_before: int = 0) -> str | None:
        """The stage of the first rule that matches, or None."""
        for rule in self.rules:
            if rule.matches(touchpoint, purchases_before):
                return rule.stage
        return None

    def rank(self, stage: str) -> int:
        """Position of a stage in the model (0 = first)."""
        return self.stages.index(stage)

    def is_purchase(self, touchpoint: Touchpoint) -> bool:
        return touchpoint.action in self.purchase_actions


def load_stage_model(path: Path, known_actions: Mapping[str, frozenset[str]]) -> StageModel:
    """Read and check a stage model file; ConfigError names the file, line and reason.

    `known_actions` maps each channel to the actions its normaliser can produce.
    """
    document = load_yaml_mapping(
        path, "the stage model", "a stage model is a mapping with name, stages and rules"
    )
    return _check(path, document, known_actions)


def _check(
    path: Path, document: dict[str, Any], known_actions: Mapping[str, frozenset[str]]
) -> StageModel:
    def fail(line: int, reason: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {reason}")

    top_line = int(document.pop(_LINE, 1))
    try:
        spec = StageModelSpec.model_validate(document)
    except ValidationError as error:
        raise fail(top_line, _first_problem(error)) from error
    if len(set(spec.stages)) != len(spec.stages):
        duplicate = next(s for s in spec.stages if spec.stages.count(s) > 1)
        raise fail(top_line, f"stage {duplicate!r} is listed twice")
    all_actions = frozenset().union(*known_actions.values()) if known_actions else frozenset()
    for action in spec.purchase_actions:
        if action not in all_actions:
            raise fail(top_line, f"purchase action {action!r} is not an action of any channel")

    rules: list[Rule] = []
    for raw in spec.rules:
        line = int(raw.pop(_LINE, top_line))
        try:
            rule_spec = RuleSpec.model_validate(raw)
        except ValidationError as error:
            raise fail(line, _first_problem(error)) from error
        rule = _compile(rule_spec, line, fail)
        problem = next(_problems(rule, spec.stages, known_actions, all_actions), None)
        if problem:
            raise fail(line, problem)
        for earlier in rules:
            if earlier.unconditional() and _pairs(rule, known_actions) <= _pairs(
                earlier, known_actions
            ):
                raise fail(
                    line,
                    f"this rule can never match: the rule on line {earlier.line} "
                    "matches everything it does first",
                )
        rules.append(rule)
    funnel = _check_funnel(spec, top_line, fail, known_actions, all_actions)
    for name in spec.dimensions:
        if name in BUILT_IN_DIMENSIONS or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
            raise fail(
                top_line,
                f"dimensions: {name!r} must be a property name in snake_case, not one of "
                + ", ".join(BUILT_IN_DIMENSIONS),
            )
    unknown = [goal for goal in spec.conversion_goals if goal not in spec.stages]
    if unknown:
        raise fail(
            top_line,
            f"conversion_goals: {unknown[0]!r} is not a stage; the stages are "
            + ", ".join(spec.stages),
        )
    return StageModel(
        spec.name,
        spec.stages,
        tuple(rules),
        frozenset(spec.purchase_actions),
        funnel,
        tuple(dict.fromkeys(spec.dimensions)),
        tuple(dict.fromkeys(spec.conversion_goals)),
    )


def _check_funnel(
    spec: StageModelSpec,
    top_line: int,
    fail: Callable[[int, str], ConfigError],
    known_actions: Mapping[str, frozenset[str]],
    all_actions: frozenset[str],
) -> tuple[Rule, ...]:
    """The funnel's steps: a rule each, named by `step` instead of `stage`."""
    if len(spec.funnel) == 1:
        raise fail(top_line, "funnel: a funnel has at least two steps")
    names = tuple(str(raw.get("step", "")) for raw in spec.funnel)
    steps = []
    for raw, name in zip(spec.funnel, names, strict=True):
        line = int(raw.pop(_LINE, top_line))
        if name in spec.stages:
            raise fail(line, f"funnel step {name!r} has a stage's name; name it apart")
        if names.count(name) > 1:
            raise fail(line, f"funnel step {name!r} is listed twice")
        fields = {("stage" if key == "step" else key): value for key, value in raw.items()}
        try:
            rule_spec = RuleSpec.model_validate(fields)
        except ValidationError as error:
            raise fail(line, _first_problem(error).replace("stage", "step")) from error
        step = _compile(rule_spec, line, fail)
        problem = next(_problems(step, names, known_actions, all_actions), None)
        if problem:
            raise fail(line, problem)
        steps.append(step)
    return tuple(steps)


def _compile(spec: RuleSpec, line: int, fail: Callable[[int, str], ConfigError]) -> Rule:
    def regex(text: str, what: str) -> re.Pattern[str]:
        try:
            return re.compile(text)
        except re.error as error:
            raise fail(
                line, f"{what} {text!r} is not a valid regular expression: {error}"
            ) from error

    return Rule(
        stage=spec.stage,
        channels=frozenset(spec.channel) if spec.channel is not None else None,
        actions=frozenset(spec.action) if spec.action is not None else None,
        action_pattern=regex(spec.action_pattern, "action_pattern")
        if spec.action_pattern
        else None,
        events=frozenset(spec.event) if spec.event is not None else None,
        properties=tuple(
            (name, regex(pattern, f"properties.{name}"))
            for name, pattern in spec.properties.items()
        ),
        min_purchases=spec.min_purchases,
        max_purchases=spec.max_purchases,
        min_score=spec.min_score,
        max_score=spec.max_score,
        line=line,
    )


def _problems(
    rule: Rule,
    stages: tuple[str, ...],
    known_actions: Mapping[str, frozenset[str]],
    all_actions: frozenset[str],
) -> Iterator[str]:
    """Why `rule` is wrong or can never match (nothing when it is fine)."""
    never = "this rule can never match: "
    if rule.stage not in stages:
        yield f"unknown stage {rule.stage!r}; the stages are {', '.join(stages)}"
        return
    unknown = sorted((rule.channels or frozenset()) - known_actions.keys())
    if unknown:
        yield f"unknown channel {unknown[0]!r}; known: {', '.join(sorted(known_actions))}"
        return
    possible = (
        frozenset().union(*(known_actions[c] for c in rule.channels))
        if rule.channels is not None
        else all_actions
    )
    impossible = sorted((rule.actions or frozenset()) - possible)
    if impossible:
        where = f"channel {', '.join(sorted(rule.channels))}" if rule.channels else "any channel"
        yield f"{never}{impossible[0]!r} is not an action of {where}"
    pattern = rule.action_pattern
    if pattern is not None and not any(pattern.fullmatch(action) for action in possible):
        yield f"{never}action_pattern {pattern.pattern!r} matches no action"
    if _above(rule.min_purchases, rule.max_purchases):
        yield f"{never}min_purchases is above max_purchases"
    if _above(rule.min_score, rule.max_score):
        yield f"{never}min_score is above max_score"


def _above(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and low > high


def _pairs(rule: Rule, known_actions: Mapping[str, frozenset[str]]) -> set[tuple[str, str]]:
    """Every (channel, action) a rule's channel and action conditions let through."""
    return {
        (channel, action)
        for channel, actions in known_actions.items()
        if rule.channels is None or channel in rule.channels
        for action in actions
        if rule.actions is None or action in rule.actions
    }


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in problem["loc"])
    return f"{location}: {problem['msg']}" if location else problem["msg"]
