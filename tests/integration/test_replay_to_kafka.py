"""`journeys replay` against the real broker: a JSON Lines and a Parquet file land on the raw
import topic (keyed by customer, acknowledged before they count), the rejected rows on the
dead-letter topic with their reasons, and the topics get the pipeline's layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaAdminClient
from rich.console import Console

from pipeline.files.command import run_replay
from pipeline.settings import load_settings
from tests.support import consume_all

pytestmark = pytest.mark.integration

MAPPING = """\
fields:
  event_id: id
  event_time: ts
  channel: {const: web}
  action: {column: kind, values: {view: product_view, visit: page_view}}
  anonymous_id: cookie
  properties.product_id: product.id
"""


def test_files_are_replayed_onto_the_import_topic_and_rejects_onto_the_dead_letters(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    mapping = tmp_path / "events.yml"
    mapping.write_text(MAPPING)
    lines = tmp_path / "web.jsonl"
    lines.write_text(
        '{"id": "j-1", "ts": "2026-03-01T10:00:00Z", "kind": "visit", "cookie": "c-1"}\n'
        '{"id": "j-2", "ts": "2026-03-01T10:02:00Z", "kind": "view", "cookie": "c-1",'
        ' "product": {"id": "sku-1"}}\n'
        '{"id": "j-3", "ts": "2026-03-01T10:03:00Z", "kind": "wishlist", "cookie": "c-1"}\n'
        "{broken\n"
    )
    parquet = tmp_path / "app.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["p-1", "p-2"],
                "ts": pa.array(
                    [datetime(2026, 3, 1, 10, 1, tzinfo=UTC), datetime(2026, 3, 1, 10, 4)],
                    type=pa.timestamp("ms", tz="UTC"),
                ),
                "kind": ["view", "visit"],
                "cookie": ["c-2", None],  # p-2 has no identifier: rejected
                "product": [{"id": "sku-2"}, {"id": None}],
            }
        ),
        parquet,
    )
    prefix = f"t{unique}."
    settings = load_settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": prefix, "partitions": 2}
    )
    console = Console(record=True, width=200)
    code = run_replay(settings, [lines, parquet], [mapping], bootstrap=kafka_bootstrap, out=console)
    text = console.export_text()
    assert code == 0, text
    assert f"2 file(s): read 6 rows; sent to {prefix}touchpoints.raw.import: 3; rejected: 3" in text

    sent = consume_all(kafka_bootstrap, f"{prefix}touchpoints.raw.import", 3)
    values = sorted((json.loads(r.value)["event_id"], r.key) for r in sent)
    assert values == [("j-1", b"anon:c-1"), ("j-2", b"anon:c-1"), ("p-1", b"anon:c-2")]
    by_id = {json.loads(r.value)["event_id"]: json.loads(r.value) for r in sent}
    assert by_id["j-2"]["properties"] == {"product_id": "sku-1"}
    assert by_id["p-1"]["event_time"] == "2026-03-01T10:01:00+00:00"
    # One customer's rows share a partition, in event-time order.
    c1 = [r for r in sent if r.key == b"anon:c-1"]
    assert len({r.partition for r in c1}) == 1
    assert [json.loads(r.value)["event_id"] for r in sorted(c1, key=lambda r: r.offset)] == [
        "j-1",
        "j-2",
    ]

    dead = consume_all(kafka_bootstrap, f"{prefix}touchpoints.dead-letter", 3)
    reasons = sorted(
        (
            dict(r.headers)["journeys.error.type"].decode(),
            dict(r.headers)["journeys.source.offset"].decode(),
            dict(r.headers)["journeys.error.message"].decode(),
        )
        for r in dead
    )
    assert reasons == [
        ("MappingError", "3", "web.jsonl line 3: column 'kind' -> action: not in the value "
         "map (known: view, visit)"),
        ("MappingError", "4", reasons[1][2]),
        ("ValidationError", "2", "app.parquet row 2: an identifier is required: user_id, "
         "anonymous_id, email, phone, loyalty_id, device_id"),
    ]  # fmt: skip
    assert reasons[1][2].startswith("web.jsonl line 4: not valid JSON")
    assert {dict(r.headers)["journeys.source.partition"] for r in dead} == {b"-1"}
    assert b"{broken" in {r.value for r in dead}

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        layout = {
            d["name"]: len(d["partitions"])
            for d in admin.describe_topics(
                [f"{prefix}touchpoints.raw.import", f"{prefix}touchpoints.dead-letter"]
            )
        }
    finally:
        admin.close()
    assert set(layout.values()) == {2}
