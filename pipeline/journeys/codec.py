"""JSON for what the pipeline keeps and sends between partitions: msgspec structs
(customer states, identifier records, work items and the touchpoints inside them).

    encode(struct) -> bytes         decoder(Type).decode(bytes) -> Type (checked)
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    """`value` (structs and builtins) as compact JSON."""
    return _ENCODER.encode(value)


def decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder that checks and builds `kind`."""
    return msgspec.json.Decoder(kind)
