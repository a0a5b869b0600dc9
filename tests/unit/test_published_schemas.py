"""The JSON Schema files under schemas/json/ match the models (run `make schemas`)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from schemas.export import JSON_DIR, contracts, render

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stem", sorted(contracts()))
def test_published_schema_is_up_to_date(stem: str) -> None:
    path = JSON_DIR / f"{stem}.json"
    assert path.exists(), f"{path} is missing: run `make schemas`"
    assert path.read_text() == render(contracts()[stem]), f"{path} is stale: run `make schemas`"


def test_no_stale_schema_files_are_left() -> None:
    published = {path.stem for path in JSON_DIR.glob("*.json")}
    assert published == set(contracts())


def test_schemas_use_the_wire_names() -> None:
    web = json.loads((JSON_DIR / "web.json").read_text())
    assert {"messageId", "anonymousId", "userId", "timestamp"} <= set(web["properties"])


SAMPLES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "channels").glob("*/*.json"))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sample_satisfies_its_published_schema(sample: Path) -> None:
    schema = json.loads((JSON_DIR / f"{sample.parent.name}.json").read_text())
    jsonschema.validate(json.loads(sample.read_text())["raw"], schema)
