"""The one exception tree of Journeys.

    JourneysError                 anything this package raises on purpose
    ├── ConfigError               a setting or a config file is invalid: says which and why
    ├── LocalStackError           the local Kafka broker cannot be resolved, started or reached
    │   └── MissingToolError      Java 17+ or Maven is missing: says what to install
    ├── ClickHouseError           ClickHouse refused or could not be reached
    │   ├── MigrationError        a migration file failed or was edited after it ran
    │   └── ReadOnlyQueryError    an analyst query tried to write
    ├── StateFormatError          a state record in the changelog is not in this build's format
    ├── ReplayError               dead letters could not all be sent back (none marked replayed)
    └── Skip                      not an error: drop this record on purpose (e.g. a duplicate)

Errors about one bad *record* are not raised past the edge: they become dead letters
(see `pipeline.ingest.deadletters`), so one bad record never stops a partition.
"""

from __future__ import annotations


class JourneysError(Exception):
    """Base class of every error raised on purpose by Journeys."""


class ConfigError(JourneysError):
    """A setting or configuration file is invalid; the message names it and says why."""


class LocalStackError(JourneysError):
    """The local Kafka broker could not be resolved, started, reached or stopped."""


class MissingToolError(LocalStackError):
    """A tool the local stack needs (Java 17+, Maven) is missing or too old."""


class ClickHouseError(JourneysError):
    """ClickHouse refused a statement or could not be reached."""


class MigrationError(ClickHouseError):
    """A migration failed, or an applied migration file was changed afterwards."""


class ReadOnlyQueryError(ClickHouseError):
    """An analyst query tried to change data; `journeys query` is read-only."""


class StateFormatError(JourneysError):
    """A record of the worker's state (its changelog) cannot be read by this build."""


class ReplayError(JourneysError):
    """The broker did not take every dead letter sent back; none is marked replayed."""


class Skip(JourneysError):  # named after faust.Skip: a deliberate non-error
    """Drop this record on purpose; never logged as a failure."""
