"""Reading exported files row by row: CSV, JSON Lines and Parquet, streamed, never whole.

    path -> Row(number, values by column) ...      one row at a time, in file order

A row that cannot be read (a bad JSON line, a CSV row with too many cells) comes out as a
Row with `error` set, so it is rejected like any other bad row instead of ending the run.
A file that cannot be read at all, or lacks a column the mapping names, is a ConfigError.
`.gz` files are read through gzip.

Usage:
    reader = open_reader(Path("orders.csv"), mapping)
    reader.count()                    # rows, for the progress bar (cheap, approximate for CSV)
    for row in reader.rows(): ...
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pipeline.errors import ConfigError
from pipeline.files.mapping import FileFormat, Mapping

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_PARQUET_BATCH = 8192
_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a file: its values by column, or why it could not be read."""

    number: int  # the line of a text file (header = line 1), the 1-based row of Parquet
    values: dict[str, Any]
    error: str | None = None
    raw: str | None = None  # the text of a row that could not be read into values

    def where(self, unit: str) -> str:
        return f"{unit} {self.number}"


class Reader(Protocol):
    """A file's rows."""

    path: Path
    unit: str  # how messages count rows: "line" or "row"

    def count(self) -> int: ...
    def rows(self) -> Iterator[Row]: ...


def file_format(path: Path, mapping: Mapping) -> FileFormat:
    """The format the file's extension names, else the mapping's `format:`.

    A file whose extension names another format than the mapping is refused: it is
    almost always the wrong mapping for that file.
    """
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    found = _SUFFIXES.get(suffixes[0].lower()) if suffixes else None
    if found is not None and mapping.format is not None and found != mapping.format:
        raise ConfigError(
            f"{path}: the name says {found} but {mapping.path} reads {mapping.format}: "
            "is it the right mapping for this file?"
        )
    found = found or mapping.format
    if found is None:
        raise ConfigError(
            f"{path}: cannot tell the format from the name: use .csv, .jsonl or .parquet, "
            "or set `format:` in the mapping"
        )
    return found


def open_reader(path: Path, mapping: Mapping) -> Reader:
    """A reader for `path`, checked against the columns the mapping needs."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    fmt = file_format(path, mapping)
    reader: Reader
    if fmt == "csv":
        reader = CsvReader(path, mapping)
    elif fmt == "jsonl":
        reader = JsonLinesReader(path)
    else:
        reader = ParquetReader(path, mapping)
    return reader


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return path.open(encoding=encoding, newline="")


def _count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    lines, last = 0, b"\n"
    with opener(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _missing(path: Path, mapping: Mapping, columns: list[str], nested: bool = False) -> None:
    """ConfigError naming the first column the mapping reads that the file lacks.

    With `nested`, `a.b` is present when column `a` is (a struct's field).
    """
    present = set(columns)
    missing = [
        column
        for column in mapping.columns()
        if column not in present and not (nested and column.split(".")[0] in present)
    ]
    if missing:
        raise ConfigError(
            f"{path}: no column {missing[0]!r}, which {mapping.path} maps; "
            f"the file has: {', '.join(columns)}"
        )


class CsvReader:
    """CSV with a header row; cells are text (stripped of surrounding spaces)."""

    unit = "line"

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.path = path
        self.dialect = mapping.csv
        self.delimiter = "\t" if ".tsv" in path.suffixes else self.dialect.delimiter
        self.header = self._header()
        duplicates = sorted({c for c in self.header if self.header.count(c) > 1})
        if duplicates:
            raise ConfigError(f"{path}: column {duplicates[0]!r} appears twice in the header")
        _missing(path, mapping, self.header)

    def _reader(self, stream: IO[str]) -> Any:
        return csv.reader(stream, delimiter=self.delimiter, quotechar=self.dialect.quotechar)

    def _header(self) -> list[str]:
        try:
            with _open_text(self.path, self.dialect.encoding) as stream:
                first = next(self._reader(stream), None)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise ConfigError(f"{self.path}: cannot read the header: {error}") from error
        if not first:
            raise ConfigError(f"{self.path}: empty file (a CSV needs a header row)")
        return [name.strip() for name in first]

    def count(self) -> int:
        return max(0, _count_lines(self.path) - 1)

    def rows(self) -> Iterator[Row]:
        with _open_text(self.path, self.dialect.encoding) as stream:
            reader = self._reader(stream)
            next(reader, None)
            width = len(self.header)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    yield Row(reader.line_num, {}, f"not valid CSV: {error}")
                    continue
                if not cells:
                    continue  # a blank line
                if len(cells) != width:
                    yield Row(
                        reader.line_num,
                        dict(zip(self.header, cells, strict=False)),
                        f"wrong number of cells: {len(cells)}, the header has {width}",
                    )
                    continue
                yield Row(
                    reader.line_num,
                    {name: cell.strip() for name, cell in zip(self.header, cells, strict=True)},
                )


class JsonLinesReader:
    """One JSON object per line; nested objects are reached with dotted column names."""

    unit = "line"

    def __init__(self, path: Path) -> None:
        self.path = path

    def count(self) -> int:
        return _count_lines(self.path)

    def rows(self) -> Iterator[Row]:
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rb") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
                    text = line.decode("utf-8", "replace").rstrip("\n")
                    yield Row(number, {}, f"not valid JSON: {error}", raw=text)
                    continue
                if not isinstance(value, dict):
                    yield Row(number, {}, "not a JSON object", raw=json.dumps(value))
                    continue
                yield Row(number, value)


class ParquetReader:
    """Parquet, read in record batches; timestamps arrive as datetimes."""

    unit = "row"

    def __init__(self, path: Path, mapping: Mapping) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(
                f"{path}: Parquet files need pyarrow: pip install 'journeys[local]'"
            ) from None

        self.path = path
        try:
            self.file = pq.ParquetFile(path)
        except Exception as error:  # pyarrow raises several unrelated types for a bad file
            raise ConfigError(f"{path}: not a readable Parquet file: {error}") from error
        _missing(path, mapping, list(self.file.schema_arrow.names), nested=True)

    def count(self) -> int:
        return int(self.file.metadata.num_rows)

    def rows(self) -> Iterator[Row]:
        number = 0
        for batch in self.file.iter_batches(batch_size=_PARQUET_BATCH):
            for values in batch.to_pylist():
                number += 1
                yield Row(number, values)
