"""PLACEHOLDER: replaced by the real popup mapper."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.ingest.channels.base import ChannelSpec, MapContext
from schemas.touchpoint import Channel, Touchpoint


class _Placeholder(BaseModel):
    pass


def _unmapped(event: _Placeholder, ctx: MapContext) -> Touchpoint:
    raise ValueError("the popup channel is not mapped yet")


SPEC = ChannelSpec(Channel.POPUP, _Placeholder, _unmapped)
