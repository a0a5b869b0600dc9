"""JSON codecs for what the pipeline keeps and sends: msgspec structs (customer states,
identifier records, work items), with the pydantic `Touchpoint` inside them dumped and
validated again through hooks.

    encoder().encode(struct) -> bytes         decoder(Type).decode(bytes) -> Type
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from schemas.touchpoint import Touchpoint

T = TypeVar("T")


def _encode_hook(value: object) -> object:
    if isinstance(value, Touchpoint):
        return value.model_dump(exclude_defaults=True)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _decode_hook(kind: type, value: Any) -> object:
    if kind is Touchpoint:
        return Touchpoint.model_validate(value)
    raise NotImplementedError(f"cannot decode {kind.__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_encode_hook)


def encode(value: object) -> bytes:
    """`value` (structs, touchpoints, builtins) as compact JSON."""
    return _ENCODER.encode(value)


def decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder that checks and builds `kind` (touchpoints inside are validated)."""
    return msgspec.json.Decoder(kind, dec_hook=_decode_hook)
