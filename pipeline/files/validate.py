"""Checking a mapped row before it is sent, with the pipeline's own normaliser.

    payload (raw import event) -> Touchpoint       it will pass in the pipeline too
                               -> Problem          naming the field, column and value

The contract is validated here first, so that a problem names the exact field and the
value the row gave; then the import normaliser runs (action of the channel, email and
phone, event-time range), exactly as the worker will.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pipeline.files.mapping import Mapping
from pipeline.files.rows import Problem, lookup
from pipeline.ingest.normalize import Normalizer, RawRecord
from schemas.raw.imported import ImportEvent
from schemas.touchpoint import Channel, Touchpoint


def encode(payload: dict[str, Any]) -> bytes:
    """The payload as the raw record's value."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def check(
    normalizer: Normalizer,
    mapping: Mapping,
    record: RawRecord,
    payload: dict[str, Any],
    now: datetime,
) -> Touchpoint | Problem:
    """The touchpoint the pipeline will make of `payload`, or why it will not."""
    try:
        ImportEvent.model_validate(payload)
    except ValidationError as error:
        return _contract_problem(mapping, payload, error)
    result = normalizer(Channel.IMPORT, record, now)
    if isinstance(result, Touchpoint):
        return result
    reason = result.error_message.removeprefix("cannot map: ")
    field, sep, rest = reason.partition(": ")
    if result.error_type == "EventTimeOutOfRange":
        field, sep, rest = "event_time", ": ", reason
    if not sep or (mapping.rule(field) is None and field not in payload):
        return Problem(result.error_type, reason)
    rule = mapping.rule(field)
    return Problem(
        result.error_type,
        rest,
        field,
        rule.column if rule is not None else None,
        lookup(payload, field),
        True,
    )


def _contract_problem(mapping: Mapping, payload: dict[str, Any], error: ValidationError) -> Problem:
    first = error.errors(include_url=False, include_context=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    reason = str(first["msg"]).removeprefix("Value error, ")
    if not field:  # a rule over the whole row, e.g. "an identifier is required"
        return Problem("ValidationError", reason)
    rule = mapping.rule(field)
    return Problem(
        "ValidationError",
        reason,
        field,
        rule.column if rule is not None else None,
        first.get("input"),
        "input" in first,
    )
