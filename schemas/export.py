"""Publish the contracts as JSON Schema files under schemas/json/.

    python -m schemas.export          # or: make schemas

One file per raw channel contract (`<channel>.json`, named after the topic's channel)
and one for the canonical touchpoint. A unit test fails when the files are out of date.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import msgspec
from pydantic import BaseModel

from schemas.raw import module_name
from schemas.touchpoint import Channel, Touchpoint

JSON_DIR = Path(__file__).resolve().parent / "json"


Contract = type[BaseModel] | type[msgspec.Struct]


def contracts() -> dict[str, Contract]:
    """Every published contract by file stem: each channel's raw event, and the touchpoint."""
    found: dict[str, Contract] = {}
    for channel in Channel:
        module = importlib.import_module(f"schemas.raw.{module_name(channel.value)}")
        found[channel.value] = getattr(module, f"{channel.value.capitalize()}Event")
    found["touchpoint"] = Touchpoint
    return found


def render(model: Contract) -> str:
    """A model's JSON Schema as stable, reviewable text (field names as sent on the wire)."""
    if issubclass(model, BaseModel):
        schema = model.model_json_schema(by_alias=True, mode="validation")
    else:
        schema = msgspec.json.schema(model)
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(folder: Path = JSON_DIR) -> list[Path]:
    """Write every contract's schema; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, model in contracts().items():
        path = folder / f"{stem}.json"
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
