"""Forgetting a customer (`journeys forget`): their identifier records and customer
states leave the worker's state (tombstones in the compacted changelog), and their rows
leave every ClickHouse table.

    Forget(key)                 the identifier's partition: its record goes; the customers
                                it named and the identifiers linked to it are forgotten
    ForgetCustomer(customer_id) the customer's partition: its state goes, and so do the
                                customer it merged into and those merged into it
    ForgetDeadLetters(positions) the first position's partition: these dead letters'
                                rows go (found naming a forgotten customer on the
                                dead-letter topic, which `journeys forget` then clears:
                                pipeline.purge)

Each leaves a `Forgotten` note in the flush: the agent deletes the rows, then records
the step in `journeys.forgotten` by a hash of what it forgot, never the value itself.
Repeating a step changes nothing (at-least-once redelivery is safe).

    identifier_key("email:Ann@Example.com", hasher) -> "email:<hash>"
"""

from __future__ import annotations

import hashlib

import msgspec

from pipeline.errors import ConfigError
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.identity import FIELD_OF


class Forget(msgspec.Struct, frozen=True, kw_only=True, tag="fi"):
    """Forget identifier `key` and everything it leads to (keyed by `key`)."""

    key: str


class ForgetCustomer(msgspec.Struct, frozen=True, kw_only=True, tag="fc"):
    """Forget customer `key` (its id; keyed by it)."""

    key: str


class ForgetDeadLetters(msgspec.Struct, frozen=True, kw_only=True, tag="fd"):
    """Forget the dead letters at `positions` (`dead_letter_position` of each)."""

    positions: list[str]


class Forgotten(msgspec.Struct, frozen=True):
    """One thing forgotten: an identifier, a customer or a dead letter (the agent deletes
    its rows)."""

    kind: str  # "identifier" | "customer" | "dead_letter"
    key: str


def dead_letter_position(topic: str, partition: int, offset: int) -> str:
    """A dead letter's key in `Forgotten`: where it was on the dead-letter topic."""
    return f"{topic}/{partition}/{offset}"


def fingerprint(key: str) -> str:
    """What `journeys.forgotten` records of `key`: a hash, so the log names no one."""
    return hashlib.sha256(key.encode()).hexdigest()


def identifier_key(text: str, hasher: PiiHasher) -> str:
    """`kind:value` as given on the command line -> the identifier's key in the state
    (emails and phone numbers hashed as the normaliser hashes them)."""
    kind, _, value = text.partition(":")
    if not value or kind not in FIELD_OF:
        raise ConfigError(
            f"cannot forget {text!r}: give KIND:VALUE, KIND one of {', '.join(FIELD_OF)}"
        )
    if kind == "email":
        return f"email:{hasher.email(value)}"
    if kind == "phone":
        return f"phone:{hasher.phone(value)}"
    return f"{kind}:{value}"
