"""PLACEHOLDER: replaced by the real chat mapper."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.ingest.channels.base import ChannelSpec, MapContext
from schemas.touchpoint import Channel, Touchpoint


class _Placeholder(BaseModel):
    pass


def _unmapped(event: _Placeholder, ctx: MapContext) -> Touchpoint:
    raise ValueError("the chat channel is not mapped yet")


SPEC = ChannelSpec(Channel.CHAT, _Placeholder, _unmapped)
