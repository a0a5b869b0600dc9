"""Each file format, read row by row: CSV, JSON Lines, Parquet, gzip; bad rows as data."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import ConfigError
from pipeline.files.mapping import Mapping, load_mapping
from pipeline.files.readers import Row, file_format, open_reader

pytestmark = pytest.mark.unit


def mapping(tmp_path: Path, extra: str = "", user: str = "user") -> Mapping:
    path = tmp_path / "map.yml"
    path.write_text(
        f"{extra}fields:\n  event_time: ts\n  channel: {{const: web}}\n"
        f"  action: {{const: page_view}}\n  user_id: {user}\n"
    )
    return load_mapping(path)


def test_csv_rows_carry_their_line_and_stripped_cells(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(
        "\ufeffts, user ,note\n2026-03-01T10:00:00Z, u-1 ,x\n\n"
        '2026-03-01T11:00:00Z,u-2,"two\nlines"\n'.encode()
    )
    reader = open_reader(path, mapping(tmp_path))
    assert reader.unit == "line"
    assert reader.count() == 4  # newlines, for the progress bar: approximate on purpose
    assert list(reader.rows()) == [
        Row(2, {"ts": "2026-03-01T10:00:00Z", "user": "u-1", "note": "x"}),
        Row(5, {"ts": "2026-03-01T11:00:00Z", "user": "u-2", "note": "two\nlines"}),
    ]


def test_a_csv_row_with_the_wrong_number_of_cells_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("ts,user\n2026-03-01T10:00:00Z,u-1,extra\n")
    (row,) = open_reader(path, mapping(tmp_path)).rows()
    assert (row.number, row.error) == (2, "wrong number of cells: 3, the header has 2")


def test_csv_dialect_and_tsv(tmp_path: Path) -> None:
    semi = tmp_path / "a.csv"
    semi.write_text("ts;user\n2026-03-01T10:00:00Z;u-1\n", encoding="latin-1")
    reader = open_reader(semi, mapping(tmp_path, 'csv: {delimiter: ";", encoding: latin-1}\n'))
    assert [row.values for row in reader.rows()] == [{"ts": "2026-03-01T10:00:00Z", "user": "u-1"}]
    tsv = tmp_path / "b.tsv"
    tsv.write_text("ts\tuser\n2026-03-01T10:00:00Z\tu-2\n")
    assert [row.values["user"] for row in open_reader(tsv, mapping(tmp_path)).rows()] == ["u-2"]


def test_a_csv_without_a_mapped_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("ts,customer\n")
    with pytest.raises(ConfigError, match=r"a.csv: no column 'user', which .*map.yml maps; "
                       r"the file has: ts, customer"):  # fmt: skip
        open_reader(path, mapping(tmp_path))


def test_csv_header_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty file"):
        open_reader(empty, mapping(tmp_path))
    twice = tmp_path / "twice.csv"
    twice.write_text("ts,user,user\n")
    with pytest.raises(ConfigError, match="column 'user' appears twice"):
        open_reader(twice, mapping(tmp_path))
    with pytest.raises(ConfigError, match="no such file"):
        open_reader(tmp_path / "absent.csv", mapping(tmp_path))


def test_json_lines_with_nested_values_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        '{"ts": 1772366561, "user": {"id": "u-1"}}\n'
        "\n"
        "{not json\n"
        "[1, 2]\n"
        '{"ts": "2026-03-01T10:00:00Z", "user": {"id": "u-2"}}\n'
    )
    reader = open_reader(path, mapping(tmp_path, user="user.id"))  # nested: not checked up front
    rows = list(reader.rows())
    assert [(row.number, row.values, row.error) for row in rows] == [
        (1, {"ts": 1772366561, "user": {"id": "u-1"}}, None),
        (3, {}, rows[1].error),
        (4, {}, "not a JSON object"),
        (5, {"ts": "2026-03-01T10:00:00Z", "user": {"id": "u-2"}}, None),
    ]
    assert rows[1].error is not None and rows[1].error.startswith("not valid JSON")
    assert (rows[1].raw, rows[2].raw) == ("{not json", "[1, 2]")
    assert reader.count() == 5


def test_gzip_is_read_through(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt") as stream:
        stream.write('{"ts": 1, "user": "u-1"}\n{"ts": 2, "user": "u-2"}\n')
    reader = open_reader(path, mapping(tmp_path))
    assert file_format(path, mapping(tmp_path)) == "jsonl"
    assert [row.values["user"] for row in reader.rows()] == ["u-1", "u-2"]
    assert reader.count() == 2


def test_parquet_rows_keep_their_types_and_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    when = datetime(2026, 3, 1, 10, tzinfo=UTC)
    table = pa.table(
        {
            "ts": pa.array([when, when], type=pa.timestamp("ms", tz="UTC")),
            "user": ["u-1", None],
            "amount": [12.5, 3.0],
            "ctx": [{"page": "/a"}, {"page": "/b"}],
        }
    )
    pq.write_table(table, path, row_group_size=1)
    reader = open_reader(path, mapping(tmp_path))
    assert (reader.unit, reader.count()) == ("row", 2)
    assert list(reader.rows()) == [
        Row(1, {"ts": when, "user": "u-1", "amount": 12.5, "ctx": {"page": "/a"}}),
        Row(2, {"ts": when, "user": None, "amount": 3.0, "ctx": {"page": "/b"}}),
    ]
    nested = mapping(tmp_path, user="ctx.page")
    assert [row.number for row in open_reader(path, nested).rows()] == [1, 2]
    with pytest.raises(ConfigError, match="no column 'user'"):
        pq.write_table(pa.table({"ts": [1]}), tmp_path / "b.parquet")
        open_reader(tmp_path / "b.parquet", mapping(tmp_path))


def test_formats_come_from_the_mapping_or_the_name(tmp_path: Path) -> None:
    plain = mapping(tmp_path)
    assert file_format(Path("x.CSV"), plain) == "csv"
    assert file_format(Path("x.ndjson"), plain) == "jsonl"
    assert file_format(Path("x.pq"), plain) == "parquet"
    assert file_format(Path("x.txt"), mapping(tmp_path, "format: jsonl\n")) == "jsonl"
    with pytest.raises(ConfigError, match="cannot tell the format"):
        file_format(Path("x.txt"), plain)
    with pytest.raises(ConfigError, match=r"x.csv: the name says csv but .*map.yml reads jsonl"):
        file_format(Path("x.csv"), mapping(tmp_path, "format: jsonl\n"))
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ConfigError, match="not a readable Parquet file"):
        open_reader(bad, plain)
