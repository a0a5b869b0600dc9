"""Numbered, append-only ClickHouse migrations from `schemas/clickhouse/`.

A migration is `NNNN_what_it_does.sql`: statements ending in `;` at the end of a line.
`${name}` placeholders are filled from the parameters (e.g. `${retention_days}`). Each
statement that completes is recorded in `schema_migration_steps`, so a run cut short
resumes after the last recorded one: a statement that is not idempotent (a `RENAME`) runs
once, unless the run stops between it and its record (then the rerun fails on it, loudly;
write statements idempotent where ClickHouse allows, `IF NOT EXISTS`). Each applied
migration is recorded with a checksum in `schema_migrations`; editing an applied file is
an error (write a new migration instead).

Usage:
    applied_now = migrate(client, retention_days=730)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

import schemas
from pipeline.clickhouse.client import quote_identifier
from pipeline.errors import MigrationError

SCHEMA_DIR = Path(schemas.__file__).resolve().parent / "clickhouse"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""

STEPS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migration_steps
(
    version    UInt32,
    checksum   String,
    step       UInt32,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (version, checksum, step)
"""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self, parameters: dict[str, object]) -> list[str]:
        """The file's statements with placeholders filled, comments and blanks dropped."""
        try:
            text = Template(self.text).substitute({k: str(v) for k, v in parameters.items()})
        except (KeyError, ValueError) as error:
            raise MigrationError(f"{self.name}: unknown placeholder {error}") from error
        chunks = re.split(r";[ \t]*$", text, flags=re.MULTILINE)
        statements = []
        for chunk in chunks:
            code = "\n".join(
                line for line in chunk.splitlines() if not line.strip().startswith("--")
            ).strip()
            if code:
                statements.append(code)
        return statements


def discover(folder: Path = SCHEMA_DIR) -> list[Migration]:
    """All migrations in `folder`, in version order; misnamed or repeated versions fail."""
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: name it NNNN_lowercase_words.sql")
        version = int(match[1])
        if version in migrations:
            raise MigrationError(f"{path}: version {version} is used twice")
        migrations[version] = Migration(version, path.name, path.read_text())
    return [migrations[v] for v in sorted(migrations)]


def publish_stage_model(
    client: Client, name: str, stages: Sequence[str], funnel: Sequence[str] = ()
) -> None:
    """Write the running stage model into `stage_model` and its funnel into
    `funnel_model`, which the analyst views read."""
    for table, column, names in (
        ("stage_model", "stage", stages),
        ("funnel_model", "step", funnel),
    ):
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")
        if names:
            client.insert(
                table,
                [[name, item, rank] for rank, item in enumerate(names)],
                column_names=["model", column, "rank"],
            )


def applied(client: Client) -> dict[int, str]:
    """Checksums of the migrations already applied, by version."""
    client.command(LEDGER_DDL)
    rows = client.query("SELECT version, checksum FROM schema_migrations FINAL").result_rows
    return {int(version): str(checksum) for version, checksum in rows}


def migrate(client: Client, folder: Path = SCHEMA_DIR, **parameters: object) -> list[Migration]:
    """Apply every migration not yet applied, in order; returns those applied now."""
    done = applied(client)
    applied_now = []
    for migration in discover(folder):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was changed after it was applied; migrations are "
                    "append-only: restore the file and add a new migration instead"
                )
            continue
        done_steps = _steps_done(client, migration)
        for step, statement in enumerate(migration.statements(parameters)):
            if step in done_steps:
                continue
            try:
                client.command(statement)
            except DriverError as error:
                raise MigrationError(f"{migration.name} failed: {error}") from error
            client.insert(
                "schema_migration_steps",
                [[migration.version, migration.checksum, step]],
                column_names=["version", "checksum", "step"],
            )
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        applied_now.append(migration)
    return applied_now


#: A table's TTL as ClickHouse shows it in `system.tables.engine_full`.
_TTL = re.compile(r"\bTTL (?P<expression>.+?) \+ toIntervalDay\((?P<days>\d+)\)")


def apply_retention(client: Client, days: int) -> list[str]:
    """Give every table of the database whose TTL keeps another number of days
    (`CLICKHOUSE_RETENTION_DAYS` changed since it was created) a TTL of `days`; returns
    the tables changed. Rows already dropped stay dropped."""
    tables = client.query(
        "SELECT name, engine_full FROM system.tables "
        "WHERE database = currentDatabase() AND engine_full LIKE '%TTL %'"
    ).result_rows
    changed = []
    for name, engine in tables:
        match = _TTL.search(str(engine))
        if match is None or int(match["days"]) == days:
            continue
        try:
            client.command(
                f"ALTER TABLE {quote_identifier(str(name))} "
                f"MODIFY TTL {match['expression']} + INTERVAL {int(days)} DAY"
            )
        except DriverError as error:
            raise MigrationError(f"cannot set the retention of {name}: {error}") from error
        changed.append(str(name))
    return changed


def _steps_done(client: Client, migration: Migration) -> set[int]:
    """Statements of this very file (same checksum) that completed in an earlier run."""
    client.command(STEPS_DDL)
    rows = client.query(
        "SELECT step FROM schema_migration_steps FINAL "
        "WHERE version = {version:UInt32} AND checksum = {checksum:String}",
        parameters={"version": migration.version, "checksum": migration.checksum},
    ).result_rows
    return {int(step) for (step,) in rows}
