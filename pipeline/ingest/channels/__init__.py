"""Every channel family's raw contract and mapper, found by channel name.

Each `Channel` has a module here named after it that defines `SPEC: ChannelSpec`
(`imported` for `import`, a Python keyword).
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.ingest.channels.base import CUSTOM_EVENT, ChannelSpec
from schemas.raw import module_name
from schemas.touchpoint import Channel


def _load() -> dict[Channel, ChannelSpec[Any]]:
    specs: dict[Channel, ChannelSpec[Any]] = {}
    for channel in Channel:
        module = importlib.import_module(f"{__name__}.{module_name(channel.value)}")
        spec: ChannelSpec[Any] = module.SPEC
        if spec.channel is not channel:
            raise RuntimeError(f"{module.__name__}.SPEC is for {spec.channel}, not {channel}")
        specs[channel] = spec
    return specs


SPECS: dict[Channel, ChannelSpec[Any]] = _load()

#: The actions each channel's normaliser can produce (what stage rules may name), and
#: `custom_event`, which an imported row may carry on any channel. Not `import`: its
#: touchpoints carry the channel each row names, with that channel's actions.
KNOWN_ACTIONS: dict[str, frozenset[str]] = {
    channel.value: spec.actions | {CUSTOM_EVENT}
    for channel, spec in SPECS.items()
    if channel is not Channel.IMPORT
}
