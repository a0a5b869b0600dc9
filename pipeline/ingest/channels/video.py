"""Video player events -> touchpoints."""

from __future__ import annotations

from pipeline.ingest.channels.base import ChannelSpec, MapContext, campaign, identities, properties
from schemas.raw.video import VIDEO_ACTIONS, VideoEvent
from schemas.touchpoint import Channel, Touchpoint


def video_touchpoint(event: VideoEvent, ctx: MapContext) -> Touchpoint:
    """A video view started, progressed or completed."""
    percent = event.percent_watched
    return ctx.touchpoint(
        event_id=f"video:{event.event_id}",
        event_time=event.timestamp,
        channel=Channel.VIDEO,
        platform=event.platform,
        action=VIDEO_ACTIONS[event.event],
        identities=identities(anonymous_id=event.anonymous_id, user_id=event.user_id),
        campaign=campaign(event.utm),
        is_bot=ctx.is_bot(event.user_agent),
        properties=properties(
            video_id=event.video_id,
            title=event.title,
            percent_watched=None if percent is None else f"{round(percent, 2):g}",
        ),
    )


SPEC = ChannelSpec(Channel.VIDEO, VideoEvent, video_touchpoint, frozenset(VIDEO_ACTIONS.values()))
