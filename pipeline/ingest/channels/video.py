"""PLACEHOLDER: replaced by the real video mapper."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.ingest.channels.base import ChannelSpec, MapContext
from schemas.touchpoint import Channel, Touchpoint


class _Placeholder(BaseModel):
    pass


def _unmapped(event: _Placeholder, ctx: MapContext) -> Touchpoint:
    raise ValueError("the video channel is not mapped yet")


SPEC = ChannelSpec(Channel.VIDEO, _Placeholder, _unmapped)
