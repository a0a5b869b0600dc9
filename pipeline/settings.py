"""Typed, frozen settings: the one place that reads the environment.

Each section reads its own variables (the prefix is in the section's docstring), so the
two that every deployment sets keep their conventional names, `KAFKA_BOOTSTRAP_SERVERS`
and `CLICKHOUSE_URL`, while the rest live under `JOURNEYS_<SECTION>_`.

Usage:
    settings = load_settings()          # raises ConfigError naming the bad variable
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from pipeline.attribution.heuristics import AttributionConfig
from pipeline.errors import ConfigError
from pipeline.metrics.dropoff import DetectorConfig


def _seconds_or_iso(value: object) -> object:
    """Environment values are text: accept plain seconds ("1800") beside ISO 8601 ("PT30M")."""
    if isinstance(value, str):
        try:
            return timedelta(seconds=float(value))
        except ValueError:
            return value
    return value


#: A duration from the environment: seconds or ISO 8601.
Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


class KafkaSettings(BaseSettings):
    """Kafka connection and topic layout. Environment prefix: `KAFKA_`."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str | None = Field(
        default=None,
        description="KAFKA_BOOTSTRAP_SERVERS: host:port[,host:port]. Unset: `journeys up` "
        "starts a local broker.",
    )
    topic_prefix: str = Field(
        default="",
        description="KAFKA_TOPIC_PREFIX: prepended to every topic name (tests, multi-tenant).",
        pattern=r"^[A-Za-z0-9._-]*$",
    )
    consumer_group: str = Field(
        default="journeys",
        description="KAFKA_CONSUMER_GROUP: the Faust application id and consumer group.",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
    )
    partitions: int = Field(
        default=8, ge=1, le=1024, description="KAFKA_PARTITIONS: partitions of new topics."
    )
    replication_factor: int = Field(
        default=1, ge=1, le=7, description="KAFKA_REPLICATION_FACTOR: of new topics."
    )
    session_timeout: float = Field(
        default=30.0,
        ge=6,
        le=300,
        description="KAFKA_SESSION_TIMEOUT: seconds before the group gives a silent (crashed) "
        "worker's partitions to the others.",
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r} is not host:port (e.g. localhost:9092)")
        return value.strip()


@dataclass(frozen=True)
class EmbeddedClickHouse:
    """The ClickHouse engine in this process (chdb), data in `path`."""

    path: Path
    database: str

    def describe(self) -> str:
        return f"embedded ClickHouse at {self.path} (database {self.database})"


@dataclass(frozen=True)
class ClickHouseServer:
    """A ClickHouse server reached over HTTP(S)."""

    host: str
    port: int
    username: str
    password: SecretStr
    database: str
    secure: bool

    def describe(self) -> str:
        scheme = "https" if self.secure else "http"
        return (
            f"ClickHouse server {scheme}://{self.username}@{self.host}:{self.port}/{self.database}"
        )


ClickHouseTarget = EmbeddedClickHouse | ClickHouseServer


class ClickHouseSettings(BaseSettings):
    """Where analysts' data lives. Environment prefix: `CLICKHOUSE_`."""

    model_config = SettingsConfigDict(env_prefix="CLICKHOUSE_", frozen=True, extra="ignore")

    url: SecretStr = Field(
        default=SecretStr("chdb:var/clickhouse"),
        description="CLICKHOUSE_URL: chdb:///abs/dir or chdb:rel/dir (embedded engine), or "
        "http(s)://user:password@host:port/database (a server).",
    )
    database: str | None = Field(
        default=None,
        description="CLICKHOUSE_DATABASE: overrides the database named in the URL.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    retention_days: int = Field(
        default=730,
        ge=1,
        description="CLICKHOUSE_RETENTION_DAYS: TTL of fact tables (touchpoints, dead letters).",
    )
    query_timeout: float = Field(
        default=30.0,
        gt=0,
        description="CLICKHOUSE_QUERY_TIMEOUT: seconds an analyst's query through a worker "
        "(/query/, /clickhouse, the journey map) may run before ClickHouse stops it; with "
        "the embedded engine, the worker's inserts wait while one runs.",
    )

    @field_validator("url")
    @classmethod
    def _parse_url(cls, value: SecretStr) -> SecretStr:
        parse_clickhouse_url(value.get_secret_value(), None)  # raises ValueError if invalid
        return value

    @property
    def target(self) -> ClickHouseTarget:
        return parse_clickhouse_url(self.url.get_secret_value(), self.database)


def parse_clickhouse_url(url: str, database: str | None) -> ClickHouseTarget:
    """Turn a `CLICKHOUSE_URL` into where to connect; `ValueError` says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        raw_path = unquote(parts.netloc + parts.path)
        if not raw_path:
            raise ValueError("a chdb URL needs a directory, e.g. chdb:///var/lib/journeys")
        query = parse_qs(parts.query)
        db = database or query.get("database", ["journeys"])[0]
        return EmbeddedClickHouse(path=Path(raw_path).resolve(), database=db)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError("an http(s) URL needs a host, e.g. http://localhost:8123/journeys")
        secure = parts.scheme == "https"
        db = database or parts.path.strip("/") or "journeys"
        return ClickHouseServer(
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            username=unquote(parts.username or "default"),
            password=SecretStr(unquote(parts.password or "")),
            database=db,
            secure=secure,
        )
    raise ValueError(
        f"scheme {parts.scheme or '(none)'!r} is not supported: use chdb:// (embedded) or "
        "http(s):// (server)"
    )


class SinkSettings(BaseSettings):
    """Batches and flushes of the partition pipelines. Environment prefix: `JOURNEYS_SINK_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_SINK_", frozen=True, extra="ignore")

    batch_size: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        description="JOURNEYS_SINK_BATCH_SIZE: rows waiting that make a flush start early.",
    )
    batch_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="JOURNEYS_SINK_BATCH_SECONDS: seconds between flushes (rows to "
        "ClickHouse, state to its changelog, then inputs acknowledged).",
    )
    take_max: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="JOURNEYS_SINK_TAKE_MAX: most input records handled as one batch (and "
        "fetched in one poll).",
    )
    retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="JOURNEYS_SINK_RETRY_MAX_SECONDS: cap of the backoff between insert retries.",
    )


class WorkerSettings(BaseSettings):
    """The Faust worker process. Environment prefix: `JOURNEYS_WORKER_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_WORKER_", frozen=True, extra="ignore")

    web_host: str = Field(
        default="127.0.0.1", description="JOURNEYS_WORKER_WEB_HOST: HTTP bind address."
    )
    web_port: int = Field(
        default=6066, ge=1, le=65535, description="JOURNEYS_WORKER_WEB_PORT: HTTP port."
    )
    data_dir: Path = Field(
        default=Path("var/faust"),
        description="JOURNEYS_WORKER_DATA_DIR: Faust's local state (table stores).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="JOURNEYS_WORKER_LOG_LEVEL: worker log level."
    )
    fast_drain: bool = Field(
        default=True,
        description="JOURNEYS_WORKER_FAST_DRAIN: hand fetched records to the agent without "
        "Faust's per-record futures (pipeline/faust_drain.py; false: Faust's own loop).",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="JOURNEYS_WORKER_GC_THRESHOLD: allocations between the garbage "
        "collector's young-generation passes (Python's default is 700; 0 keeps it). Objects "
        "made at start-up are frozen out of every pass.",
    )
    ready_flush_age: float = Field(
        default=30.0,
        gt=0,
        description="JOURNEYS_WORKER_READY_FLUSH_AGE: /readyz fails once the pipeline's last "
        "completed flush (ClickHouse rows, state, acknowledgements) is older than this "
        "(seconds).",
    )
    ready_max_lag: int = Field(
        default=100_000,
        ge=0,
        description="JOURNEYS_WORKER_READY_MAX_LAG: /readyz fails while more raw records than "
        "this, on the worker's partitions, are not yet processed and durable.",
    )
    stop_timeout: float = Field(
        default=20.0,
        ge=2,
        description="JOURNEYS_WORKER_STOP_TIMEOUT: seconds a stop signal gives the worker. It "
        "flushes what it can for half of them, leaves the rest to be read again after a "
        "restart, and is ended by force at the end.",
    )

    @property
    def web_url(self) -> str:
        """The worker's web server as this machine reaches it (a wildcard bind: loopback)."""
        host = "127.0.0.1" if self.web_host in ("0.0.0.0", "::", "") else self.web_host
        return f"http://{host}:{self.web_port}"


class SessionSettings(BaseSettings):
    """Sessionizing in event time. Environment prefix: `JOURNEYS_SESSIONS_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_SESSIONS_", frozen=True, extra="ignore")

    inactivity_gap: Duration = Field(
        default=timedelta(minutes=30),
        description="JOURNEYS_SESSIONS_INACTIVITY_GAP: a quiet gap this long ends a session "
        "(seconds or ISO 8601, e.g. PT30M).",
    )
    max_length: Duration = Field(
        default=timedelta(hours=24),
        description="JOURNEYS_SESSIONS_MAX_LENGTH: no session is longer than this.",
    )
    allowed_lateness: Duration = Field(
        default=timedelta(minutes=5),
        description="JOURNEYS_SESSIONS_ALLOWED_LATENESS: how far behind the watermark an "
        "event may arrive and still count as on time.",
    )

    idle_after: float = Field(
        default=60.0,
        gt=0,
        description="JOURNEYS_SESSIONS_IDLE_AFTER: seconds without touchpoints after which a "
        "partition's event time moves on with the wall clock, so its sessions close.",
    )
    idle_rate: float = Field(
        default=1.0,
        gt=0,
        description="JOURNEYS_SESSIONS_IDLE_RATE: event-time seconds per wall second on an "
        "idle partition (raise it to close sessions promptly after a replay).",
    )
    customer_retention: Duration = Field(
        default=timedelta(days=400),
        description="JOURNEYS_SESSIONS_CUSTOMER_RETENTION: customers idle this long (in event "
        "time) leave the engine's hot state.",
    )
    provisional_rows: bool = Field(
        default=True,
        description="JOURNEYS_SESSIONS_PROVISIONAL_ROWS: write a live touchpoint's row at "
        "arrival (queryable in about a second), replaced by its final row at release "
        "(`touchpoints` is versioned by `_version`; FINAL reads the latest).",
    )

    @field_validator("inactivity_gap", "max_length", "customer_retention")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("allowed_lateness")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value


#: The stage models that come with Journeys (default.yml, lifecycle.yml).
STAGE_MODELS = Path(__file__).resolve().parent / "journeys" / "stage_models"


class StageSettings(BaseSettings):
    """Journey stage model. Environment prefix: `JOURNEYS_STAGES_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_STAGES_", frozen=True, extra="ignore")

    model_file: Path = Field(
        default=STAGE_MODELS / "default.yml",
        description="JOURNEYS_STAGES_MODEL_FILE: the stage model (ordered stages and rules); "
        "the packaged default, or e.g. its copy with your own rules.",
    )


class WindowSettings(BaseSettings):
    """Conversion-count windows. Environment prefix: `JOURNEYS_WINDOWS_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_WINDOWS_", frozen=True, extra="ignore")

    sizes: Annotated[tuple[Duration, ...], NoDecode] = Field(
        default=(timedelta(hours=1),),
        description="JOURNEYS_WINDOWS_SIZES: tumbling window sizes, seconds or ISO 8601, "
        'comma-separated or a JSON list: "3600", "PT5M,PT1H" or ["PT5M","PT1H"].',
    )

    @field_validator("sizes", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except ValueError as error:
                    raise ValueError(f"not a JSON list ({error})") from None
            return [part.strip() for part in value.split(",")]
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if not value:
            raise ValueError("name at least one window size")
        for size in value:
            if size <= timedelta(0) or size.total_seconds() % 1:
                raise ValueError(f"{size} is not a positive whole number of seconds")
        return tuple(sorted(set(value)))


class AlertSettings(BaseSettings):
    """Drop-off alerts. Environment prefix: `JOURNEYS_ALERTS_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_ALERTS_", frozen=True, extra="ignore")

    webhook_url: SecretStr | None = Field(
        default=None,
        description="JOURNEYS_ALERTS_WEBHOOK_URL: optional JSON POST target for alerts.",
    )
    min_volume: int = Field(
        default=30,
        ge=1,
        description="JOURNEYS_ALERTS_MIN_VOLUME: fewest customers at a step for a window to count.",
    )
    significance: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="JOURNEYS_ALERTS_SIGNIFICANCE: p-value below which a rise is an alert.",
    )
    min_rise: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="JOURNEYS_ALERTS_MIN_RISE: smallest rise of the drop-off rate (0.05 = five "
        "points) worth an alert, however significant.",
    )
    resolve_after: int = Field(
        default=2,
        ge=1,
        description="JOURNEYS_ALERTS_RESOLVE_AFTER: normal windows in a row that end an episode.",
    )
    cooldown: int = Field(
        default=3,
        ge=0,
        description="JOURNEYS_ALERTS_COOLDOWN: windows after a resolution before a new episode.",
    )
    evidence_threshold: float = Field(
        default=DetectorConfig.evidence_threshold,
        gt=0,
        description="JOURNEYS_ALERTS_EVIDENCE_THRESHOLD: evidence (a log likelihood ratio "
        "summed over windows) that makes a rise an alert at any volume; higher: fewer false "
        "alarms, later alerts at low volume (docs/alerting.md).",
    )
    evidence_shift: float = Field(
        default=DetectorConfig.evidence_shift,
        gt=0,
        lt=1,
        description="JOURNEYS_ALERTS_EVIDENCE_SHIFT: the drop the evidence looks for: the "
        "step's conversion multiplied by this (0.6: a 40 % fall).",
    )
    webhook_format: Literal["json", "slack", "alertmanager"] = Field(
        default="json",
        description="JOURNEYS_ALERTS_WEBHOOK_FORMAT: json, slack or alertmanager payloads.",
    )
    webhook_timeout: float = Field(
        default=5.0,
        gt=0,
        description="JOURNEYS_ALERTS_WEBHOOK_TIMEOUT: seconds per webhook attempt.",
    )
    resend_interval: float = Field(
        default=60.0,
        gt=0,
        description="JOURNEYS_ALERTS_RESEND_INTERVAL: seconds between re-sends of a firing "
        "episode to Alertmanager (which resolves an alert it stops hearing of).",
    )
    generator_url: str | None = Field(
        default=None,
        description="JOURNEYS_ALERTS_GENERATOR_URL: a link in every alert to where on-call "
        "sees the drop-off (a dashboard); {alert_id}, {stage} and {window_size_seconds} "
        "are filled in.",
    )
    runbook_url: str | None = Field(
        default=None,
        description="JOURNEYS_ALERTS_RUNBOOK_URL: a link in every alert to what on-call does "
        "about it (e.g. your copy of docs/alerting.md).",
    )

    @field_validator("webhook_url", "generator_url", "runbook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (Compose's `${VAR:-}`) means none."""
        return None if value == "" else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _http_url(value.get_secret_value())
        return value

    @field_validator("generator_url", "runbook_url")
    @classmethod
    def _link_is_http(cls, value: str | None) -> str | None:
        if value is not None:
            sample = {"alert_id": "a", "stage": "s", "window_size_seconds": 1}
            try:
                filled = value.format(**sample)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(
                    f"only {{alert_id}}, {{stage}} and {{window_size_seconds}} are filled in "
                    f"({error!r})"
                ) from None
            _http_url(filled)
        return value


def _http_url(value: str) -> None:
    """Raise ValueError unless `value` is an absolute http(s) URL."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("not an http:// or https:// URL")


class AttributionSettings(BaseSettings):
    """Attribution of conversions to touches. Environment prefix: `JOURNEYS_ATTRIBUTION_`."""

    model_config = SettingsConfigDict(
        env_prefix="JOURNEYS_ATTRIBUTION_", frozen=True, extra="ignore"
    )

    enabled: bool = Field(
        default=True,
        description="JOURNEYS_ATTRIBUTION_ENABLED: credit every purchase to the touches "
        "before it, with every model (table attribution_credits).",
    )
    lookback: Duration = Field(
        default=AttributionConfig.lookback,
        description="JOURNEYS_ATTRIBUTION_LOOKBACK: how far before a purchase its path "
        "reaches (seconds or ISO 8601, e.g. P30D).",
    )
    since_previous_conversion: bool = Field(
        default=AttributionConfig.since_previous_conversion,
        description="JOURNEYS_ATTRIBUTION_SINCE_PREVIOUS_CONVERSION: a path starts after "
        "the customer's previous purchase.",
    )
    half_life: Duration = Field(
        default=AttributionConfig.half_life,
        description="JOURNEYS_ATTRIBUTION_HALF_LIFE: the time decay model halves a touch's "
        "weight for every this long before the purchase.",
    )
    first_share: float = Field(
        default=AttributionConfig.first_share,
        ge=0,
        le=1,
        description="JOURNEYS_ATTRIBUTION_FIRST_SHARE: the position based model's share for "
        "the first touch.",
    )
    last_share: float = Field(
        default=AttributionConfig.last_share,
        ge=0,
        le=1,
        description="JOURNEYS_ATTRIBUTION_LAST_SHARE: ... and for the last touch (the middle "
        "touches share the rest).",
    )

    markov_every: float = Field(
        default=300.0,
        ge=0,
        description="JOURNEYS_ATTRIBUTION_MARKOV_EVERY: seconds between looks for days that "
        "became final, whose Markov attribution is then computed (0: never).",
    )

    @field_validator("last_share")
    @classmethod
    def _shares_fit(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("first_share", 0.0) + value > 1:
            raise ValueError("with JOURNEYS_ATTRIBUTION_FIRST_SHARE, more than 1")
        return value

    def config(self) -> AttributionConfig | None:
        """The engine's attribution, or None when it is off."""
        if not self.enabled:
            return None
        return AttributionConfig(
            lookback=self.lookback,
            since_previous_conversion=self.since_previous_conversion,
            half_life=self.half_life,
            first_share=self.first_share,
            last_share=self.last_share,
        )


class IdentitySettings(BaseSettings):
    """Identity stitching guard rails. Environment prefix: `JOURNEYS_IDENTITY_`.

    Each limit is the most identifiers of any one other type that one identifier of the
    named type may be linked to; a link beyond it is refused and recorded in
    `identity_violations` (see docs/identity.md).
    """

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_IDENTITY_", frozen=True, extra="ignore")

    device_id_limit: int = Field(
        default=5,
        ge=1,
        description="JOURNEYS_IDENTITY_DEVICE_ID_LIMIT: e.g. user ids one device may join "
        "(a shared tablet).",
    )
    anonymous_id_limit: int = Field(
        default=5,
        ge=1,
        description="JOURNEYS_IDENTITY_ANONYMOUS_ID_LIMIT: e.g. emails or user ids one cookie "
        "may join (a shared computer).",
    )
    email_limit: int = Field(
        default=50,
        ge=1,
        description="JOURNEYS_IDENTITY_EMAIL_LIMIT: e.g. cookies or user ids one email hash "
        "may join (a typo'd or shared address).",
    )
    phone_limit: int = Field(
        default=20,
        ge=1,
        description="JOURNEYS_IDENTITY_PHONE_LIMIT: the same for one phone hash.",
    )
    user_id_limit: int = Field(
        default=100,
        ge=1,
        description="JOURNEYS_IDENTITY_USER_ID_LIMIT: e.g. cookies one account may join.",
    )
    loyalty_id_limit: int = Field(
        default=20,
        ge=1,
        description="JOURNEYS_IDENTITY_LOYALTY_ID_LIMIT: e.g. emails or accounts one loyalty "
        "card may join (a family card).",
    )

    def limits(self) -> dict[str, int]:
        """Limit by identifier field, as pipeline.journeys.resolution.IdentityLimits wants."""
        return {
            "device_id": self.device_id_limit,
            "anonymous_id": self.anonymous_id_limit,
            "email_hash": self.email_limit,
            "phone_hash": self.phone_limit,
            "user_id": self.user_id_limit,
            "loyalty_id": self.loyalty_id_limit,
        }


class IngestSettings(BaseSettings):
    """What normalisers accept. Environment prefix: `JOURNEYS_INGEST_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_INGEST_", frozen=True, extra="ignore")

    max_payload_bytes: int = Field(
        default=65536,
        ge=256,
        description="JOURNEYS_INGEST_MAX_PAYLOAD_BYTES: larger raw records are dead letters.",
    )
    max_clock_skew: Duration = Field(
        default=timedelta(hours=1),
        description="JOURNEYS_INGEST_MAX_CLOCK_SKEW: how far in the future (past the time "
        "it is read) an event time may lie.",
    )
    max_event_age: Duration = Field(
        default=timedelta(days=5 * 365),
        description="JOURNEYS_INGEST_MAX_EVENT_AGE: older event times are dead letters "
        "(replays of history within this age are fine).",
    )
    phone_region: str = Field(
        default="US",
        pattern=r"^[A-Z]{2}$",
        description="JOURNEYS_INGEST_PHONE_REGION: country of phone numbers written "
        "without a +country prefix.",
    )


#: The HMAC key of the local stack: public, so emails hashed with it can be reversed by
#: hashing a list of addresses. Fine for the demo; the worker warns when it is used with
#: a ClickHouse server.
DEVELOPMENT_HASH_KEY = "journeys-local-development-key"


class PrivacySettings(BaseSettings):
    """Personal data handling. Environment prefix: `JOURNEYS_PRIVACY_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_PRIVACY_", frozen=True, extra="ignore")

    hash_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_HASH_KEY),
        description="JOURNEYS_PRIVACY_HASH_KEY: secret key of the HMAC that hashes emails and "
        "phone numbers at ingest. Set your own in production.",
        min_length=16,
    )
    erase_within: Duration = Field(
        default=timedelta(days=1),
        description="JOURNEYS_PRIVACY_ERASE_WITHIN: the workers' state changelog rolls its "
        "segments and compacts them at least this often, so the older values of a forgotten "
        "customer leave the broker's disk within about twice this (seconds or ISO 8601).",
    )

    @field_validator("erase_within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value


class LocalStackSettings(BaseSettings):
    """The local Kafka broker for machines without Docker. Prefix: `JOURNEYS_LOCAL_`."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_LOCAL_", frozen=True, extra="ignore")

    cache_dir: Path = Field(
        default=Path(".cache"),
        description="JOURNEYS_LOCAL_CACHE_DIR: where the Kafka jars are kept once resolved.",
    )
    kafka_dir: Path = Field(
        default=Path("var/kafka"),
        description="JOURNEYS_LOCAL_KAFKA_DIR: the local broker's data, logs and state file.",
    )
    kafka_heap: str = Field(
        default="512m",
        pattern=r"^[0-9]+[kmg]$",
        description="JOURNEYS_LOCAL_KAFKA_HEAP: the broker JVM's heap (-Xmx), e.g. 512m.",
    )


class Settings(BaseModel):
    """Everything Journeys can be told, one section per concern."""

    model_config = {"frozen": True}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    stages: StageSettings = Field(default_factory=StageSettings)
    windows: WindowSettings = Field(default_factory=WindowSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    local: LocalStackSettings = Field(default_factory=LocalStackSettings)


_SECTIONS: dict[str, type[BaseSettings]] = {
    name: info.annotation  # type: ignore[misc]  # every Settings field is a BaseSettings section
    for name, info in Settings.model_fields.items()
}


def environment_variables() -> dict[str, str]:
    """Every environment variable Journeys reads, with its description."""
    names: dict[str, str] = {}
    for section in _SECTIONS.values():
        prefix = str(section.model_config.get("env_prefix", ""))
        for field, info in section.model_fields.items():
            names[(prefix + field).upper()] = info.description or ""
    return names


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (plus keyword overrides per section) into frozen settings.

    Raises ConfigError naming each invalid variable and why, never the secret values.
    """
    sections: dict[str, BaseSettings] = {}
    problems: list[str] = []
    for name, section in _SECTIONS.items():
        prefix = str(section.model_config.get("env_prefix", "")).upper()
        try:
            sections[name] = section(**overrides.get(name, {}))
        except SettingsError as error:  # a value the environment source could not decode
            problems.append(f"{prefix}*: {error}")
        except ValidationError as error:
            for problem in error.errors():
                field = ".".join(str(part) for part in problem["loc"]) or "?"
                variable = prefix + field.split(".")[0].upper()
                shown = os.environ.get(variable)
                secret = "PASSWORD" in variable or "KEY" in variable or "URL" in variable
                value = "" if shown is None or secret else f" (got {shown!r})"
                problems.append(f"{variable}{value}: {problem['msg']}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return Settings(**sections)


#: Variables under JOURNEYS_ that belong to the test suite, not to Journeys.
TEST_PREFIX = "JOURNEYS_TEST_"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per JOURNEYS_* variable Journeys does not read (a misspelt setting is
    otherwise silently ignored), with the closest known name."""
    known = environment_variables()
    warnings = []
    for name in sorted(environ):
        if name.startswith("JOURNEYS_") and not name.startswith(TEST_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{name} is not a Journeys setting and is ignored{hint}")
    return warnings


@dataclass(frozen=True)
class SettingValue:
    """One variable's current value as it would be written in the environment (None:
    unset), masked when it is a secret."""

    variable: str
    value: str | None
    meaning: str


def setting_values(settings: Settings) -> list[SettingValue]:
    """Every variable Journeys reads, with its value in the environment's syntax."""
    values = []
    for name in _SECTIONS:
        section = getattr(settings, name)
        prefix = str(section.model_config.get("env_prefix", "")).upper()
        for field, info in type(section).model_fields.items():
            variable = prefix + field.upper()
            meaning = (info.description or "").split(": ", 1)[-1]
            values.append(
                SettingValue(variable, _environment_text(getattr(section, field)), meaning)
            )
    return values


def _environment_text(value: object) -> str | None:
    """`value` as the environment would give it (seconds for durations, commas between
    items); secrets masked (a URL keeps its scheme and host)."""
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return _masked(value.get_secret_value())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return str(int(seconds)) if seconds.is_integer() else str(seconds)
    if isinstance(value, tuple | list):
        return ",".join(str(_environment_text(item)) for item in value)
    return str(value)


def _masked(secret: str) -> str:
    parts = urlsplit(secret)
    if parts.scheme in {"http", "https"} and parts.hostname:
        user = f"{parts.username}:****@" if parts.password else ""
        port = f":{parts.port}" if parts.port else ""
        # A URL with a password keeps its path (a database); without, the path is the
        # secret (a webhook's token).
        hidden = not parts.password and (parts.path.strip("/") or parts.query)
        path = "/****" if hidden else parts.path
        return f"{parts.scheme}://{user}{parts.hostname}{port}{path}"
    if parts.scheme == "chdb":
        return secret  # a directory: nothing secret in it
    return "********"
