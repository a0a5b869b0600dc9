"""Mapping files: which column of an exported file feeds which canonical field.

A mapping is YAML (see deploy/mappings/ and docs/replay.md). Loading checks it whole and
fails with the file, the line, the key and the reason: an unknown field, a column and a
constant at once, a channel or action that does not exist, an unknown time zone.

    format: csv                       # csv | jsonl | parquet (default: from the extension)
    fields:
      event_time: {column: created, format: "%Y-%m-%d %H:%M:%S", timezone: Europe/Berlin}
      channel: {const: commerce}
      action: {column: kind, values: {Purchase: order_placed}}
      user_id: customer                # a plain string names the column
      properties.sku: sku

Usage:
    mapping = load_mapping(Path("deploy/mappings/shop-orders.yml"))
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import ConfigError
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.yamlfile import KEY_LINES as _KEY_LINES
from pipeline.yamlfile import LINE as _LINE
from pipeline.yamlfile import load_yaml_mapping
from schemas.raw.imported import IDENTIFIERS, ImportCampaign, ImportChannel, ImportEvent

FileFormat = Literal["csv", "jsonl", "parquet"]
Kind = Literal["text", "time", "decimal", "number", "scalar"]
Unmapped = Literal["reject", "keep", "empty"]

_NESTED = ("campaign", "properties")

#: Every field a column can feed, with how its values are read.
TARGETS: dict[str, Kind] = {
    **{
        name: "text"
        for name in ImportEvent.model_fields
        if name not in _NESTED and name not in {"event_time", "revenue", "score", "sentiment"}
    },
    "event_time": "time",
    "revenue": "decimal",
    "score": "number",
    "sentiment": "number",
    **{f"campaign.{name}": "text" for name in ImportCampaign.model_fields},
}
PROPERTY_PREFIX = "properties."
#: Fields whose values are personal: never echoed in messages.
PERSONAL = frozenset({"email", "phone"})
REQUIRED = ("event_time", "channel")
#: ... and one of these: an action, or the source's own event name (or both).
WHAT_HAPPENED = ("action", "event")
TIME_FORMATS = ("iso", "unix", "unix_ms")
_RULE_KEYS = {"column", "const", "values", "unmapped", "default", "format", "timezone"}
_TOP_KEYS = {"format", "csv", "null_values", "fields"}


@dataclass(frozen=True)
class FieldRule:
    """Where one canonical field's value comes from."""

    target: str
    kind: Kind
    column: str | None = None
    const: object = None
    values: AnyMapping[str, object] | None = None
    unmapped: Unmapped = "reject"
    default: object = None
    time_format: str | None = None  # event_time: iso, unix, unix_ms or a strptime format
    timezone: ZoneInfo | None = None  # event_time: for times written without an offset
    line: int = 0

    @property
    def source(self) -> str:
        """How messages name where the value came from."""
        return f"column {self.column!r}" if self.column is not None else "the constant"


@dataclass(frozen=True)
class CsvDialect:
    """How to read a CSV file."""

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8-sig"  # a byte-order mark (spreadsheet exports) is skipped


@dataclass(frozen=True)
class Mapping:
    """A checked mapping file."""

    path: Path
    format: FileFormat | None
    csv: CsvDialect
    null_values: frozenset[str]
    rules: tuple[FieldRule, ...]

    def columns(self) -> list[str]:
        """Every column the mapping reads, in the order of the file."""
        return [rule.column for rule in self.rules if rule.column is not None]

    def rule(self, target: str) -> FieldRule | None:
        return next((rule for rule in self.rules if rule.target == target), None)


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; ConfigError names the file, line, key and reason."""
    document = load_yaml_mapping(
        path, "the mapping", "a mapping file is a YAML mapping with `fields:`", key_lines=True
    )
    return _Checker(path).mapping(document)


class _Checker:
    """Turns the parsed YAML into a Mapping, failing at the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.path}:{line}: {key}: {reason}")

    def mapping(self, document: dict[Any, Any]) -> Mapping:
        line = int(document.pop(_LINE, 1))
        document.pop(_KEY_LINES, None)
        for key in document:
            if key not in _TOP_KEYS:
                raise self.fail(line, str(key), f"unknown key; expected {_names(_TOP_KEYS)}")
        fmt = document.get("format")
        if fmt is not None and fmt not in get_args(FileFormat):
            raise self.fail(line, "format", f"{fmt!r} is not one of csv, jsonl, parquet")
        fields = document.get("fields")
        if not isinstance(fields, dict):
            raise self.fail(line, "fields", "required: a mapping of field -> column or rule")
        rules = self.rules(fields)
        return Mapping(
            path=self.path,
            format=fmt,
            csv=self.dialect(document.get("csv"), line),
            null_values=self.null_values(document.get("null_values", [""]), line),
            rules=rules,
        )

    def dialect(self, value: object, line: int) -> CsvDialect:
        if value is None:
            return CsvDialect()
        if not isinstance(value, dict):
            raise self.fail(line, "csv", "expected a mapping (delimiter, quotechar, encoding)")
        line = int(value.pop(_LINE, line))
        value.pop(_KEY_LINES, None)
        unknown = set(value) - {"delimiter", "quotechar", "encoding"}
        if unknown:
            raise self.fail(line, f"csv.{sorted(unknown)[0]}", "unknown key")
        for key in ("delimiter", "quotechar"):
            if key in value and (not isinstance(value[key], str) or len(value[key]) != 1):
                raise self.fail(line, f"csv.{key}", "must be one character")
        encoding = value.get("encoding", CsvDialect.encoding)
        try:
            "".encode(str(encoding))
        except LookupError:
            raise self.fail(line, "csv.encoding", f"unknown encoding {encoding!r}") from None
        return CsvDialect(
            delimiter=value.get("delimiter", ","),
            quotechar=value.get("quotechar", '"'),
            encoding=str(encoding),
        )

    def null_values(self, value: object, line: int) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(line, "null_values", 'expected a list of strings, e.g. ["", "NULL"]')
        return frozenset(value)

    def rules(self, fields: dict[Any, Any]) -> tuple[FieldRule, ...]:
        line = int(fields.pop(_LINE, 1))
        key_lines = fields.pop(_KEY_LINES, {})
        rules = []
        for target, spec in fields.items():
            rules.append(self.rule(str(target), spec, int(key_lines.get(target, line))))
        mapped = {rule.target for rule in rules}
        for required in REQUIRED:
            if required not in mapped:
                raise self.fail(line, f"fields.{required}", "required: name a column or a const")
        if not mapped & set(WHAT_HAPPENED):
            raise self.fail(
                line, "fields.action", "required (or fields.event): name a column or a const"
            )
        if not mapped & set(IDENTIFIERS):
            raise self.fail(
                line, "fields", f"map at least one identifier: {', '.join(IDENTIFIERS)}"
            )
        checked = tuple(rules)
        self.channels_and_actions(checked)
        return checked

    def rule(self, target: str, spec: object, line: int) -> FieldRule:
        key = f"fields.{target}"
        kind = self.kind(target, line)
        if isinstance(spec, str):
            spec = {"column": spec}
        if not isinstance(spec, dict):
            raise self.fail(line, key, "expected a column name or a mapping with column or const")
        line = int(spec.pop(_LINE, line))
        spec.pop(_KEY_LINES, None)
        unknown = set(spec) - _RULE_KEYS
        if unknown:
            raise self.fail(
                line, f"{key}.{sorted(unknown)[0]}", f"unknown key; expected {_names(_RULE_KEYS)}"
            )
        if ("column" in spec) == ("const" in spec):
            raise self.fail(line, key, "give exactly one of column and const")
        column = spec.get("column")
        if column is not None and (not isinstance(column, str) or not column):
            raise self.fail(line, f"{key}.column", "must be a column name (text)")
        const = spec.get("const")
        if "const" in spec and target == "event_time":
            raise self.fail(line, key, "event time must come from a column")
        if "const" in spec and (const is None or isinstance(const, dict | list)):
            raise self.fail(line, f"{key}.const", "must be a single value")
        if "const" in spec and {"values", "unmapped", "default"} & set(spec):
            raise self.fail(line, key, "values, unmapped and default apply to a column only")
        unmapped = spec.get("unmapped", "reject")
        if unmapped not in get_args(Unmapped):
            raise self.fail(line, f"{key}.unmapped", "must be reject, keep or empty")
        if target != "event_time" and {"format", "timezone"} & set(spec):
            raise self.fail(line, key, "format and timezone apply to event_time only")
        for name in ("const", "default"):
            if spec.get(name) is not None and not _fits(kind, spec[name]):
                raise self.fail(line, f"{key}.{name}", f"{spec[name]!r} is not a {kind} value")
        return FieldRule(
            target=target,
            kind=kind,
            column=column,
            const=const,
            values=self.values(spec.get("values"), f"{key}.values", line),
            unmapped=unmapped,
            default=spec.get("default"),
            time_format=self.time_format(spec.get("format"), f"{key}.format", line),
            timezone=self.timezone(spec.get("timezone"), f"{key}.timezone", line),
            line=line,
        )

    def kind(self, target: str, line: int) -> Kind:
        if target.startswith(PROPERTY_PREFIX):
            name = target.removeprefix(PROPERTY_PREFIX)
            if (
                not name
                or not name[0].islower()
                or not all(c.islower() or c.isdigit() or c == "_" for c in name)
            ):
                raise self.fail(line, f"fields.{target}", "property names are snake_case")
            return "scalar"
        if target not in TARGETS:
            raise self.fail(
                line,
                f"fields.{target}",
                f"unknown field; expected one of {_names(TARGETS)} or properties.<name>",
            )
        return TARGETS[target]

    def values(self, value: object, key: str, line: int) -> dict[str, object] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(line, key, "expected a mapping of file value -> canonical value")
        line = int(value.pop(_LINE, line))
        value.pop(_KEY_LINES, None)
        table: dict[str, object] = {}
        for raw, mapped in value.items():
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise self.fail(line, key, f"key {raw!r} is not text: quote it")
            if isinstance(mapped, dict | list):
                raise self.fail(line, f"{key}.{raw}", "must map to a single value or null")
            table[str(raw)] = mapped
        return table

    def time_format(self, value: object, key: str, line: int) -> str | None:
        if value is None or value in TIME_FORMATS:
            return None if value is None else str(value)
        if not isinstance(value, str) or "%" not in value:
            raise self.fail(line, key, "expected iso, unix, unix_ms or a strptime format")
        return value

    def timezone(self, value: object, key: str, line: int) -> ZoneInfo | None:
        if value is None:
            return None
        try:
            return ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                line, key, f"unknown time zone {value!r} (e.g. UTC, Europe/Berlin)"
            ) from None

    def channels_and_actions(self, rules: tuple[FieldRule, ...]) -> None:
        """Channels and actions the mapping can produce must exist (as far as it shows)."""
        channel_rule = next(rule for rule in rules if rule.target == "channel")
        action_rule = next((rule for rule in rules if rule.target == "action"), None)
        channels = set(get_args(ImportChannel))
        produced = _produced(channel_rule)
        for channel in produced or ():
            if channel not in channels:
                raise self.fail(
                    channel_rule.line,
                    "fields.channel",
                    f"{channel!r} is not a channel; known: {_names(channels)}",
                )
        possible = (
            frozenset().union(*(KNOWN_ACTIONS[str(c)] for c in produced))
            if produced is not None
            else frozenset().union(*KNOWN_ACTIONS.values())
        )
        if action_rule is None:  # the source's own events: custom_event, on any channel
            return
        for action in _produced(action_rule) or ():
            if action not in possible:
                where = (
                    f"channel {', '.join(sorted(map(str, produced)))}"
                    if produced
                    else "any channel"
                )
                raise self.fail(
                    action_rule.line, "fields.action", f"{action!r} is not an action of {where}"
                )


def _fits(kind: Kind, value: object) -> bool:
    """Whether a constant or default can be a value of `kind` (checked once, at load)."""
    if isinstance(value, dict | list):
        return False
    if kind in ("decimal", "number"):
        try:
            Decimal(str(value))
        except InvalidOperation:
            return False
        return not isinstance(value, bool)
    return True


def _produced(rule: FieldRule) -> set[object] | None:
    """The values a rule can give, when the mapping alone tells (None: any value)."""
    if rule.column is None:
        return {rule.const}
    if rule.values is not None and rule.unmapped != "keep":
        return {value for value in rule.values.values() if value is not None} | (
            {rule.default} if rule.default is not None else set()
        )
    return None


def _names(names: Iterable[object]) -> str:
    return ", ".join(sorted(str(name) for name in names))
