"""`journeys forget`: a customer known by a cookie, an email, an account and a second
cookie (two customers merged into one) is forgotten by their email alone. Afterwards no
ClickHouse table holds any of their identifiers or customer ids, no record of any topic
names them (raw, internal, dead letters, reports), the workers' compacted state
changelog ends each of their keys with a tombstone and mentions them nowhere else, and
another customer is untouched, their dead letter included; the log records the request
by fingerprints only."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from msgspec.structs import replace

from pipeline.ingest.deadletters import H_REWRITTEN_FROM
from pipeline.ingest.pii import PiiHasher
from pipeline.settings import DEVELOPMENT_HASH_KEY
from schemas.touchpoint import Touchpoint
from tests.e2e.test_identity_pipeline import LAPTOP, ORDER, PHONE, tp
from tests.e2e.test_seed_journey_pipeline import FAST_IDLE
from tests.support import REPO, WorkerProcess, produce, send_touchpoints, wait_until

pytestmark = pytest.mark.e2e

EMAIL = "ann@example.com"
EMAIL_HASH = PiiHasher(DEVELOPMENT_HASH_KEY.encode()).email(EMAIL)


def with_email(touchpoints: list[Touchpoint]) -> list[Touchpoint]:
    """The identity test's Ann, with the hash of a real address as her email."""
    return [
        replace(t, identities=replace(t.identities, email_hash=EMAIL_HASH))
        if t.identities.email_hash
        else t
        for t in touchpoints
    ]


ANN = with_email(LAPTOP + PHONE + ORDER)
BOB = [
    tp("bob-visit", 2, 0, "page_view", anonymous_id="ck-bob"),
    tp("bob-product", 2, 5, "product_view", anonymous_id="ck-bob"),
]
ANN_VALUES = {"ck-laptop", "ck-phone", "ann-42", EMAIL_HASH}
ANN_KEYS = {"anon:ck-laptop", "anon:ck-phone", "user:ann-42", f"email:{EMAIL_HASH}"}
#: Raw popup records: Ann's form, her address typed otherwise (only the normaliser sees
#: it is hers), and two that fail (dead letters), Bob's first on the same partition.
POPUP_AT = (ORDER[0].event_time + timedelta(minutes=5)).isoformat()
RAW_POPUPS = [
    {"event_id": "pop-ann", "event": "submitted", "timestamp": POPUP_AT,
     "email": EMAIL.upper()},
    {"event_id": "bob-bad", "event": "submitted", "timestamp": "soon", "anonymous_id": "ck-bob"},
    {"event_id": "ann-bad", "event": "submitted", "timestamp": "soon", "email": EMAIL},
]  # fmt: skip
#: What no topic may hold afterwards (raw records carry the address itself).
ANN_BYTES = [value.encode() for value in {*ANN_VALUES, EMAIL, EMAIL.upper()}]


def string_columns(worker: WorkerProcess) -> dict[str, list[str]]:
    """Every table's columns of text (String, Nullable, LowCardinality)."""
    found: dict[str, list[str]] = {}
    for row in worker.query(
        "SELECT c.table AS t, c.name AS c FROM system.columns AS c "
        "JOIN system.tables AS s ON s.database = c.database AND s.name = c.table "
        "WHERE c.database = currentDatabase() AND s.engine NOT LIKE '%View%' "
        "AND c.type LIKE '%String%' AND c.type NOT LIKE 'Array%' AND c.type NOT LIKE 'Map%'"
    ):
        found.setdefault(row["t"], []).append(row["c"])
    return found


def mentions(worker: WorkerProcess, needles: set[str]) -> dict[str, int]:
    """Rows of each table with any text column equal to one of `needles`."""
    listed = ", ".join(f"'{needle}'" for needle in sorted(needles))
    counts = {}
    for table, columns in string_columns(worker).items():
        where = " OR ".join(f"has([{listed}], ifNull(toString(`{c}`), ''))" for c in columns)
        counts[table] = int(
            worker.query(f"SELECT count() AS n FROM `{table}` WHERE {where}")[0]["n"]
        )
    return counts


def topic_records(bootstrap: str, topic: str) -> list[Any]:
    """Every record `topic` holds now, from its first partition to its last."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                found.extend(records)
        return found
    finally:
        consumer.close()


def changelog(bootstrap: str, topic: str) -> dict[bytes, bytes | None]:
    """The compacted view of `topic`: the last value of every key."""
    return {record.key: record.value for record in topic_records(bootstrap, topic)}


def names_ann(record: Any) -> bool:
    blobs = [record.key or b"", record.value or b"", *(v for _, v in record.headers or ())]
    return any(needle in blob for blob in blobs for needle in ANN_BYTES)


def test_forgetting_a_customer_by_email_leaves_nothing_of_them(
    kafka_bootstrap: str, worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**FAST_IDLE)
    prefix = f"t{unique}."
    send_touchpoints(kafka_bootstrap, prefix, ANN + BOB)
    popups = [(b"popup", json.dumps(event).encode(), []) for event in RAW_POPUPS]
    produce(kafka_bootstrap, f"{prefix}touchpoints.raw.popup", popups)  # one partition
    # Sent at once, Ann's links race her touchpoints: she is named several times, merged.
    wait_until(
        lambda: (
            worker.query(
                "SELECT (SELECT count() FROM v_journeys) AS journeys,"
                " (SELECT count() FROM v_touchpoints) AS touchpoints,"
                " (SELECT count() FROM dead_letters) AS dead"
            )
            == [{"journeys": 2, "touchpoints": len(ANN + BOB) + 1, "dead": 2}]
        ),
        120,
        "Ann merged into one customer, and Bob; their dead letters",
    )
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        topics = sorted(topic for topic in admin.list_topics() if f"t{unique}" in topic)
    finally:
        admin.close()
    assert [t for t in topics if any(names_ann(r) for r in topic_records(kafka_bootstrap, t))]
    before = mentions(worker, ANN_VALUES | ANN_KEYS)
    assert before["touchpoints"] > 0 and before["identity_links"] > 0, before

    forget = subprocess.run(
        [sys.executable, "-m", "pipeline", "forget", f"email:{EMAIL}", "--timeout", "120"],
        env=worker.env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert forget.returncode == 0, forget.stdout + forget.stderr
    assert "forgotten:" in forget.stdout
    assert "appended again" in forget.stdout, forget.stdout  # Bob's dead letter

    after = mentions(worker, ANN_VALUES | ANN_KEYS)
    assert not {table: n for table, n in after.items() if n}, after
    assert worker.query("SELECT count() AS n FROM v_touchpoints") == [{"n": len(BOB)}]
    letters = worker.query("SELECT raw_value FROM dead_letters")
    assert [json.loads(row["raw_value"])["event_id"] for row in letters] == ["bob-bad"]
    assert worker.query("SELECT customer_id FROM v_journeys") == [{"customer_id": "anon:ck-bob"}]
    logged = worker.query("SELECT kind, count() AS n FROM forgotten GROUP BY kind ORDER BY kind")
    assert {row["kind"] for row in logged} == {"customer", "identifier", "dead_letter"}, logged

    for topic in topics:
        if topic.endswith("-changelog"):
            continue  # compacted: read as recovery does, below
        left = [r.value for r in topic_records(kafka_bootstrap, topic) if names_ann(r)]
        assert not left, (topic, left)
    dead = topic_records(kafka_bootstrap, f"{prefix}touchpoints.dead-letter")
    assert [json.loads(r.value)["event_id"] for r in dead] == ["bob-bad"], dead
    assert any(name == H_REWRITTEN_FROM for name, _ in dead[0].headers)

    state = changelog(kafka_bootstrap, f"journeys-t{unique}-state-changelog")
    needles = [value.encode() for value in ANN_VALUES]
    theirs = {key: value for key, value in state.items() if any(n in key for n in needles)}
    assert theirs, "the changelog held Ann's keys"
    assert all(value is None for value in theirs.values()), "each ends with a tombstone"
    live = [value for value in state.values() if value is not None]
    assert not [v for v in live if any(n in v for n in needles)], "no other record names Ann"
