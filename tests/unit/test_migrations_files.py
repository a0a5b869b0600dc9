"""Migration files: naming, statement splitting, placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.clickhouse.migrations import Migration, discover
from pipeline.errors import MigrationError

pytestmark = pytest.mark.unit


def test_statements_split_at_line_ending_semicolons_and_drop_comments() -> None:
    migration = Migration(
        7,
        "0007_two.sql",
        "-- leading comment\nCREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Log;\n"
        "\n-- between\nALTER TABLE a MODIFY TTL d + INTERVAL ${days} DAY ;\n-- trailing\n",
    )
    assert migration.statements({"days": 30}) == [
        "CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Log",
        "ALTER TABLE a MODIFY TTL d + INTERVAL 30 DAY",
    ]


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(MigrationError, match=r"0001_x\.sql: unknown placeholder 'nope'"):
        Migration(1, "0001_x.sql", "SELECT ${nope};").statements({})


def test_discover_orders_by_version_and_rejects_bad_names(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    assert [m.version for m in discover(tmp_path)] == [1, 2]
    (tmp_path / "3_bad.sql").write_text("SELECT 3;")
    with pytest.raises(MigrationError, match=r"NNNN_lowercase_words\.sql"):
        discover(tmp_path)


def test_discover_rejects_a_version_used_twice(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 1 is used twice"):
        discover(tmp_path)


def test_shipped_migrations_parse() -> None:
    migrations = discover()
    assert migrations, "schemas/clickhouse holds no migration"
    for migration in migrations:
        statements = migration.statements({"retention_days": 30})
        assert statements, migration.name
        for statement in statements:
            if statement.startswith("CREATE"):  # every statement can run twice
                assert "IF NOT EXISTS" in statement or "OR REPLACE" in statement, statement
