"""The replay loop without Kafka: what is sent (keys, order, pace), what becomes a dead
letter, the summary, stopping early, and the command's exit status and output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.files.command import run_replay, sources
from pipeline.files.mapping import load_mapping
from pipeline.files.replayer import (
    Rejection,
    ReplayOptions,
    ReplaySummary,
    Source,
    replay_files,
)
from pipeline.files.sender import Delivery
from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer
from pipeline.ingest.pii import PiiHasher
from pipeline.settings import load_settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
TOPIC = "t.touchpoints.raw.import"
MAPPING = """\
fields:
  event_time: ts
  channel: {const: web}
  action: {column: what, values: {view: product_view, visit: page_view}}
  user_id: user
  email: mail
"""


class RecordingSink:
    """Keeps what would go to Kafka."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, dict[str, object]]] = []
        self.dead_letters: list[DeadLetter] = []

    def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, json.loads(value)))

    def dead(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)

    def close(self) -> Delivery:
        return Delivery(sent=len(self.sent), dead=len(self.dead_letters))


class Seen:
    """A Progress that remembers."""

    def __init__(self) -> None:
        self.advanced = 0
        self.rejections: list[Rejection] = []

    def advance(self, rows: int) -> None:
        self.advanced += rows

    def rejected(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)


def files(tmp_path: Path, *texts: str) -> list[Source]:
    mapping_path = tmp_path / "map.yml"
    mapping_path.write_text(MAPPING)
    mapping = load_mapping(mapping_path)
    paths = []
    for number, text in enumerate(texts):
        path = tmp_path / f"f{number}.csv"
        path.write_text("ts,what,user,mail\n" + text)
        paths.append(Source(path, mapping))
    return paths


def replay(sources: list[Source], **options: object) -> tuple[RecordingSink, Seen, ReplaySummary]:
    sink, seen = RecordingSink(), Seen()
    summary = replay_files(
        sources,
        sink,
        Normalizer(PiiHasher(b"unit-test-key-0123456789")),
        TOPIC,
        options=ReplayOptions(**options),  # type: ignore[arg-type]
        progress=seen,
    )
    return sink, seen, summary


def test_rows_go_out_in_event_time_order_keyed_by_customer_with_stable_ids(
    tmp_path: Path,
) -> None:
    sources = files(
        tmp_path,
        "2026-03-01T10:05:00Z,view,u-1,\n2026-03-01T10:00:00Z,visit,u-1,\n",
        "2026-03-01T10:02:00Z,visit,,ann@example.com\n",
    )
    sink, seen, summary = replay(sources)
    assert [(key, value["event_id"], value["event_time"]) for key, value in sink.sent] == [
        (b"user:u-1", "f0.csv:3", "2026-03-01T10:00:00+00:00"),
        (
            b"email:" + PiiHasher(b"unit-test-key-0123456789").email("ann@example.com").encode(),
            "f1.csv:2",
            "2026-03-01T10:02:00+00:00",
        ),
        (b"user:u-1", "f0.csv:2", "2026-03-01T10:05:00+00:00"),
    ]
    assert sink.sent[1][1]["email"] == "ann@example.com"  # plain: the pipeline hashes it
    assert sink.dead_letters == []
    assert (summary.files, summary.read, summary.sent, summary.rejected) == (2, 3, 3, 0)
    assert summary.first_event == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert summary.complete and seen.advanced == 3


@pytest.mark.parametrize("strict", [False, True], ids=["counted", "refused"])
def test_rows_older_than_clickhouse_keeps_are_counted_or_refused(
    tmp_path: Path, strict: bool
) -> None:
    """ClickHouse's TTL drops rows older than CLICKHOUSE_RETENTION_DAYS at once: a replay
    says how many it sent anyway, and with --strict rejects them with the reason."""
    sources = files(tmp_path, "2023-03-01T10:00:00Z,visit,u-1,\n2026-03-01T10:00:00Z,view,u-1,\n")
    keep_after = datetime(2024, 12, 1, tzinfo=UTC)
    sink, _, summary = replay(sources, keep_after=keep_after, refuse_expired=strict)
    sent = [value["event_id"] for _, value in sink.sent]
    if strict:
        assert sent == ["f0.csv:3"] and summary.expired == 0
        (letter,) = sink.dead_letters
        assert letter.error_type == "BeyondRetention"
        assert "CLICKHOUSE_RETENTION_DAYS" in letter.error_message
    else:
        assert sent == ["f0.csv:2", "f0.csv:3"] and summary.expired == 1
        assert sink.dead_letters == []


def test_rejected_rows_become_dead_letters_naming_file_line_and_column(tmp_path: Path) -> None:
    sources = files(
        tmp_path,
        "2026-03-01T10:00:00Z,view,u-1,\n"
        "2026-03-01T10:01:00Z,wishlist,u-1,\n"
        "2026-03-01T10:02:00Z,view,u-2,not-an-address\n"
        "2026-03-01T10:03:00Z,view\n",
    )
    sink, seen, summary = replay(sources)
    assert len(sink.sent) == 1
    letters = [
        (d.source_topic, d.source_partition, d.source_offset, d.error_type, d.error_message)
        for d in sink.dead_letters
    ]
    assert letters == [
        (TOPIC, -1, 3, "MappingError",
         "f0.csv line 3: column 'what' -> action: not in the value map (known: view, visit)"),
        (TOPIC, -1, 4, "InvalidPersonalData",
         "f0.csv line 4: column 'mail' -> email: not an email address"),
        (TOPIC, -1, 5, "MappingError", "f0.csv line 5: wrong number of cells: 2, the header has 4"),
    ]  # fmt: skip
    # The raw value: the row as read (mapping failed) or as mapped (the pipeline refused).
    assert json.loads(sink.dead_letters[0].raw_value) == {
        "ts": "2026-03-01T10:01:00Z", "what": "wishlist", "user": "u-1", "mail": ""
    }  # fmt: skip
    assert json.loads(sink.dead_letters[1].raw_value)["event_id"] == "f0.csv:4"
    assert [r.console() for r in seen.rejections][1] == (
        "f0.csv line 4: column 'mail' -> email: value (personal data, not shown): "
        "not an email address"
    )
    assert (summary.read, summary.sent, summary.rejected) == (4, 1, 3)
    assert dict(summary.reasons) == {
        "MappingError action (column 'what')": 1,
        "InvalidPersonalData email (column 'mail')": 1,
        "MappingError: wrong number of cells": 1,
    }
    assert seen.advanced == 4 and summary.complete


def test_the_replay_stops_once_too_many_rows_were_rejected(tmp_path: Path) -> None:
    bad = "".join(f"2026-03-01T10:{m:02d}:00Z,wishlist,u-1,\n" for m in range(10))
    sink, _, summary = replay(files(tmp_path, bad), max_rejected=3)
    assert len(sink.dead_letters) == 4 and sink.sent == []
    assert summary.stopped is not None and "more than 3 rows were rejected" in summary.stopped
    assert not summary.complete


def test_speed_paces_sending_by_event_time(tmp_path: Path) -> None:
    sources = files(
        tmp_path,
        "2026-03-01T10:00:00Z,view,u-1,\n2026-03-01T10:01:00Z,view,u-1,\n"
        "2026-03-01T10:03:00Z,view,u-1,\n",
    )
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    summary = replay_files(
        sources,
        RecordingSink(),
        Normalizer(PiiHasher(b"unit-test-key-0123456789")),
        TOPIC,
        options=ReplayOptions(speed=60),
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert waits == [1.0, 2.0]  # a minute of history is a second at speed 60
    assert summary.sent == 3


def test_one_mapping_for_all_files_or_one_per_file(tmp_path: Path) -> None:
    mapping = tmp_path / "map.yml"
    mapping.write_text(MAPPING)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert [s.path for s in sources([a, b], [mapping])] == [a, b]
    assert len(sources([a, b], [mapping, mapping])) == 2
    with pytest.raises(Exception, match="2 files and 3 mappings"):
        sources([a, b], [mapping, mapping, mapping])


def test_the_command_prints_rejections_and_a_summary_and_sets_the_exit_status(
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "map.yml"
    mapping.write_text(MAPPING)
    path = tmp_path / "a.csv"
    path.write_text("ts,what,user,mail\n2026-03-01T10:00:00Z,view,u-1,\n"
                    "2026-03-01T10:01:00Z,wishlist,u-1,\n")  # fmt: skip
    console = Console(record=True, width=200)
    settings = load_settings()
    code = run_replay(settings, [path], [mapping], bootstrap=None, dry_run=True, out=console)
    text = console.export_text()
    assert code == 0
    assert "rejected a.csv line 3: column 'what' -> action: value 'wishlist'" in text
    assert "1 file(s): read 2 rows; would send: 1; rejected: 1;" in text
    assert "event time: 2026-03-01T10:00:00+00:00 .. 2026-03-01T10:00:00+00:00" in text
    assert "1 rows rejected:" in text and "1  MappingError action (column 'what')" in text
    strict = run_replay(
        settings, [path], [mapping], bootstrap=None, dry_run=True, strict=True, out=console
    )
    assert strict == 1
    stopped = run_replay(
        settings, [path], [mapping], bootstrap=None, dry_run=True, max_rejected=0, out=console
    )
    assert stopped == 1
    assert "stopped: more than 0 rows were rejected" in console.export_text()


def test_the_shipped_examples_replay_without_a_rejected_row(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    for data, mapping in [
        ("shop-orders.csv", "shop-orders.yml"),
        ("cdp-events.jsonl", "cdp-events.yml"),
    ]:
        folder = REPO / "deploy" / "mappings"
        code = run_replay(
            load_settings(),
            [folder / data],
            [folder / mapping],
            bootstrap=None,
            dry_run=True,
            strict=True,
            out=console,
        )
        assert code == 0, console.export_text()
    text = console.export_text()
    assert "read 4 rows; would send: 4; rejected: 0" in text
