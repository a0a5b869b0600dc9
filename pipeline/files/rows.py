"""One row of a file -> the raw `import` event the mapping describes, or the problem why not.

    Row (values by column) -> {"event_id": ..., "event_time": ..., "channel": ..., ...}

Each mapped field takes its column's value (or the constant), treats empty cells as
missing (then the rule's default applies), looks the value up in the rule's value map,
and converts it to the field's kind: text, event time (ISO 8601, Unix seconds or
milliseconds, or a strptime format; a time zone for times written without one), decimal
amount, number, or property scalar. A value that cannot be mapped raises `RowError`
naming the field, the column and the value.

Usage:
    payload = map_row(mapping, row, "orders.csv")     # raises RowError
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pipeline.files.mapping import PERSONAL, PROPERTY_PREFIX, FieldRule, Mapping
from pipeline.files.readers import Row

#: Unix times above this are milliseconds (as the raw contracts read them).
_MILLIS_ABOVE = 2e10
_SHOWN = 80


@dataclass(frozen=True)
class Problem:
    """Why a row was rejected: the field, the column, the value and the reason."""

    error_type: str  # MappingError for the mapping's own checks, else the normaliser's
    reason: str
    field: str | None = None  # the canonical field, when one is at fault
    column: str | None = None  # the column it came from (None: a constant or the row)
    value: object = None  # the value at fault, shown on the console only
    has_value: bool = False

    def _where(self) -> str:
        if self.field is None:
            return ""
        source = f"column {self.column!r} -> " if self.column is not None else ""
        return f"{source}{self.field}: "

    def console(self) -> str:
        """For the operator: names the value too, unless it is personal data."""
        shown = ""
        if self.has_value:
            if self.field in PERSONAL:
                shown = "value (personal data, not shown): "
            else:
                text = repr(self.value)
                shown = f"value {text[:_SHOWN] + '...' if len(text) > _SHOWN else text}: "
        return f"{self._where()}{shown}{self.reason}"

    def message(self) -> str:
        """For the dead letter: never the value (it may be personal)."""
        return f"{self._where()}{self.reason}"

    def category(self) -> str:
        """What the summary counts rejections by: the field and column, else the reason's
        first clause (e.g. "not valid JSON")."""
        if self.field is None:
            return f"{self.error_type}: {self.reason.split(':')[0]}"
        column = f" (column {self.column!r})" if self.column is not None else ""
        return f"{self.error_type} {self.field}{column}"


class RowError(ValueError):
    """A row that cannot be mapped; carries the Problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.console())
        self.problem = problem


def lookup(values: dict[str, Any], column: str) -> Any:
    """`values[column]`; a dotted name walks into nested objects (JSON, Parquet structs)."""
    if column in values:
        return values[column]
    current: Any = values
    for part in column.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def map_row(mapping: Mapping, row: Row, file_name: str) -> dict[str, Any]:
    """The raw import event for `row`. Without an event_id rule the id is `<file>:<number>`,
    stable across runs, so a replay sent twice is counted once."""
    payload: dict[str, Any] = {"event_id": f"{file_name}:{row.number}"}
    for rule in mapping.rules:
        value = _value(mapping, rule, row)
        if value is None:
            continue
        if rule.target.startswith(PROPERTY_PREFIX):
            payload.setdefault("properties", {})[rule.target.removeprefix(PROPERTY_PREFIX)] = value
        elif rule.target.startswith("campaign."):
            payload.setdefault("campaign", {})[rule.target.removeprefix("campaign.")] = value
        else:
            payload[rule.target] = value
    return payload


def _value(mapping: Mapping, rule: FieldRule, row: Row) -> Any:
    if rule.column is None:
        return _convert(rule, rule.const)
    value = lookup(row.values, rule.column)
    if isinstance(value, str):
        value = value.strip()
    if value is None or (isinstance(value, str) and value in mapping.null_values):
        return None if rule.default is None else _convert(rule, rule.default)
    if rule.values is not None:
        key = _text(value)
        if key in rule.values:
            mapped = rule.values[key]
            return None if mapped is None else _convert(rule, mapped)
        if rule.unmapped == "empty":
            return None
        if rule.unmapped == "reject":
            known = ", ".join(sorted(rule.values)[:10])
            raise _error(rule, value, f"not in the value map (known: {known})")
    return _convert(rule, value)


def _convert(rule: FieldRule, value: Any) -> Any:
    try:
        if rule.kind == "time":
            return _time(rule, value)
        if rule.kind == "decimal":
            return _decimal(value)
        if rule.kind == "number":
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        if rule.kind == "scalar":
            return _scalar(value)
        return _text(value)
    except (ValueError, TypeError, OverflowError, InvalidOperation) as error:
        reason = str(error) if isinstance(error, ValueError) and str(error) else "cannot convert"
        raise _error(rule, value, reason) from None


def _error(rule: FieldRule, value: object, reason: str) -> RowError:
    return RowError(Problem("MappingError", reason, rule.target, rule.column, value, True))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    return _text(value)


def _decimal(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("not an amount")
    amount = Decimal(str(value).strip())
    if not amount.is_finite():
        raise ValueError("not a finite amount")
    return format(amount, "f")


def _time(rule: FieldRule, value: Any) -> str:
    """An event time as ISO 8601 with its offset."""
    fmt = rule.time_format
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    elif fmt in ("unix", "unix_ms") or (fmt is None and _is_number(value)):
        seconds = float(value)
        if fmt == "unix_ms" or (fmt is None and seconds > _MILLIS_ABOVE):
            seconds /= 1000
        when = datetime.fromtimestamp(seconds, UTC)
    elif fmt is None or fmt == "iso":
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError("not an ISO 8601 time (set event_time.format)") from None
    else:
        try:
            when = datetime.strptime(str(value), fmt)
        except ValueError:
            raise ValueError(f"does not match the format {fmt!r}") from None
    if when.tzinfo is None:
        if rule.timezone is None:
            raise ValueError("has no time zone: set event_time.timezone in the mapping")
        when = when.replace(tzinfo=rule.timezone)
    return when.isoformat()


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True
