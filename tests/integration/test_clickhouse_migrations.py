"""Migrations on a real ClickHouse: applied once, recorded, append-only."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.migrations import SCHEMA_DIR, applied, apply_retention, discover, migrate
from pipeline.errors import MigrationError

pytestmark = pytest.mark.integration


def test_shipped_migrations_apply_once_and_are_recorded(clickhouse: Client) -> None:
    first = migrate(clickhouse, retention_days=30)
    assert [m.name for m in first] == [m.name for m in discover()]
    assert migrate(clickhouse, retention_days=30) == []
    assert applied(clickhouse) == {m.version: m.checksum for m in discover()}
    tables = {row[0] for row in clickhouse.query("SHOW TABLES").result_rows}
    assert {"schema_migrations", "dead_letters"} <= tables
    ttl = clickhouse.query("SHOW CREATE TABLE dead_letters").result_rows[0][0]
    assert "toIntervalDay(30)" in ttl


def test_an_edited_applied_migration_is_refused(clickhouse: Client, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(SCHEMA_DIR, folder)
    (folder / "0900_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra (a UInt8) ENGINE = Log;\n"
    )
    assert [m.name for m in migrate(clickhouse, folder, retention_days=30)][-1] == "0900_extra.sql"
    (folder / "0900_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra (a UInt16) ENGINE = Log;\n"
    )
    with pytest.raises(MigrationError, match=r"0900_extra\.sql was changed after it was applied"):
        migrate(clickhouse, folder, retention_days=30)


def test_a_failing_migration_names_the_file_and_is_not_recorded(
    clickhouse: Client, tmp_path: Path
) -> None:
    (tmp_path / "0001_broken.sql").write_text(
        "CREATE TABLE IF NOT EXISTS x (a NoSuchType) ENGINE = Log;\n"
    )
    with pytest.raises(MigrationError, match=r"0001_broken\.sql failed"):
        migrate(clickhouse, tmp_path)
    assert applied(clickhouse) == {}


def test_a_migration_cut_short_resumes_after_its_last_completed_statement(
    clickhouse: Client, tmp_path: Path
) -> None:
    """A rename is not idempotent: run again from the top, it would fail (or undo itself);
    the rerun starts at the statement that failed."""
    (tmp_path / "0001_resume.sql").write_text(
        "CREATE TABLE IF NOT EXISTS before_rename (x UInt8) ENGINE = Log;\n"
        "RENAME TABLE before_rename TO after_rename;\n"
        "INSERT INTO after_rename SELECT x FROM needed_later;\n"
    )
    with pytest.raises(MigrationError, match=r"0001_resume\.sql failed"):
        migrate(clickhouse, tmp_path)
    assert applied(clickhouse) == {}
    clickhouse.command("CREATE TABLE needed_later (x UInt8) ENGINE = Log")
    clickhouse.insert("needed_later", [[7]], column_names=["x"])
    assert [m.name for m in migrate(clickhouse, tmp_path)] == ["0001_resume.sql"]
    assert clickhouse.query("SELECT x FROM after_rename").result_rows == [(7,)]


def test_a_changed_retention_reaches_tables_created_with_another(clickhouse: Client) -> None:
    """CLICKHOUSE_RETENTION_DAYS changed after the tables were created: their TTL follows
    (it is fixed at creation), so history between the two limits is kept from then on."""
    migrate(clickhouse, retention_days=30)
    assert apply_retention(clickhouse, 30) == []
    changed = apply_retention(clickhouse, 1000)
    assert {"touchpoints", "sessions", "dead_letters"} <= set(changed)
    engines = clickhouse.query(
        "SELECT name, engine_full FROM system.tables "
        "WHERE database = currentDatabase() AND engine_full LIKE '%TTL %'"
    ).result_rows
    assert engines and all("toIntervalDay(1000)" in str(engine) for _, engine in engines)
    assert apply_retention(clickhouse, 1000) == []
    old = datetime.now(UTC) - timedelta(days=100)
    clickhouse.command(
        "INSERT INTO dead_letters (source_topic, source_partition, source_offset, error_type,"
        " error_message, failed_at, raw_key, raw_value) VALUES"
        f" ('t', 0, 1, 'E', 'm', '{old:%Y-%m-%d %H:%M:%S}', '', '')"
    )
    clickhouse.command("OPTIMIZE TABLE dead_letters FINAL")
    assert clickhouse.query("SELECT count() FROM dead_letters").result_rows == [(1,)]


@pytest.mark.parametrize(
    ("view", "table"),
    [
        ("v_touchpoints", "touchpoints"),
        ("v_sessions", "sessions"),
        ("v_transitions", "stage_transitions"),
        ("v_journeys", "journeys"),
    ],
)
def test_each_analyst_view_shows_every_column_of_its_table(
    clickhouse: Client, view: str, table: str
) -> None:
    # A view keeps the columns its table had when it was made: a migration that adds a
    # column must make the view again.
    migrate(clickhouse, retention_days=30)

    def columns(name: str) -> set[str]:
        return {row[0] for row in clickhouse.query(f"DESCRIBE TABLE {name}").result_rows}

    bookkeeping = {"_topic", "_partition", "_offset", "_inserted_at", "_version"}
    assert columns(view) == columns(table) - bookkeeping
