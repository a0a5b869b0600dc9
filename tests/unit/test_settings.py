"""Settings: the environment in, typed values out, bad values named at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import (
    ClickHouseServer,
    EmbeddedClickHouse,
    environment_variables,
    load_settings,
    parse_clickhouse_url,
)

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables():
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.kafka.bootstrap_servers is None
    assert settings.sessions.inactivity_gap == timedelta(minutes=30)
    assert settings.sessions.max_length == timedelta(hours=24)
    assert settings.sessions.allowed_lateness == timedelta(minutes=5)
    assert settings.windows.sizes == (timedelta(hours=1),)
    target = settings.clickhouse.target
    assert isinstance(target, EmbeddedClickHouse)
    assert target.path == Path("var/clickhouse").resolve()


def test_conventional_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("CLICKHOUSE_URL", "https://writer:s%40cret@ch.example:8443/analytics")
    monkeypatch.setenv("JOURNEYS_SESSIONS_INACTIVITY_GAP", "PT45M")
    monkeypatch.setenv("JOURNEYS_WINDOWS_SIZES", '["PT1H", "PT5M", "PT1H"]')
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.sessions.inactivity_gap == timedelta(minutes=45)
    assert settings.windows.sizes == (timedelta(minutes=5), timedelta(hours=1))
    target = settings.clickhouse.target
    assert isinstance(target, ClickHouseServer)
    assert (target.host, target.port, target.username, target.database, target.secure) == (
        "ch.example",
        8443,
        "writer",
        "analytics",
        True,
    )
    assert target.password.get_secret_value() == "s@cret"


def test_every_invalid_setting_is_named_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost")
    monkeypatch.setenv("KAFKA_PARTITIONS", "zero")
    monkeypatch.setenv("JOURNEYS_SESSIONS_MAX_LENGTH", "0")
    monkeypatch.setenv("JOURNEYS_PRIVACY_ERASE_WITHIN", "-PT1H")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "KAFKA_BOOTSTRAP_SERVERS (got 'localhost'): " in message
    assert "is not host:port" in message
    assert "KAFKA_PARTITIONS (got 'zero')" in message
    assert "JOURNEYS_SESSIONS_MAX_LENGTH" in message
    assert "longer than zero" in message
    assert "JOURNEYS_PRIVACY_ERASE_WITHIN (got '-PT1H'): Value error, must be positive" in message


def test_alert_links_must_be_http_urls_with_known_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYS_ALERTS_WEBHOOK_URL", "not-a-url")
    monkeypatch.setenv("JOURNEYS_ALERTS_GENERATOR_URL", "https://grafana/d/x?stage={step}")
    monkeypatch.setenv("JOURNEYS_ALERTS_RUNBOOK_URL", "wiki/runbook")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    lines = str(raised.value).splitlines()[1:]
    assert len(lines) == 3
    assert lines[0].strip().startswith("JOURNEYS_ALERTS_WEBHOOK_URL: ")
    assert "not an http:// or https:// URL" in lines[0] and "not-a-url" not in lines[0]
    assert "JOURNEYS_ALERTS_GENERATOR_URL" in lines[1] and "{stage}" in lines[1]
    assert "JOURNEYS_ALERTS_RUNBOOK_URL" in lines[2] and "https://" in lines[2]
    monkeypatch.setenv("JOURNEYS_ALERTS_WEBHOOK_URL", "https://hooks.example/T0/B0")
    monkeypatch.setenv("JOURNEYS_ALERTS_GENERATOR_URL", "https://grafana/d/x?stage={stage}")
    monkeypatch.setenv("JOURNEYS_ALERTS_RUNBOOK_URL", "https://wiki/runbook")
    assert load_settings().alerts.generator_url == "https://grafana/d/x?stage={stage}"


def test_secrets_never_appear_in_errors_or_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "ftp://admin:hunter2hunter2@db:21/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "CLICKHOUSE_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)

    monkeypatch.setenv("CLICKHOUSE_URL", "http://admin:hunter2hunter2@db:8123/x")
    monkeypatch.setenv("JOURNEYS_PRIVACY_HASH_KEY", "another-secret-key-42")
    settings = load_settings()
    shown = repr(settings) + str(settings) + settings.clickhouse.target.describe()
    assert "hunter2" not in shown
    assert "another-secret-key-42" not in shown


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.kafka.partitions = 3  # type: ignore[misc]  # the point of the test


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("chdb:///srv/journeys", EmbeddedClickHouse(Path("/srv/journeys"), "journeys")),
        ("chdb:///srv/j?database=shop", EmbeddedClickHouse(Path("/srv/j"), "shop")),
        ("chdb:data/ch", EmbeddedClickHouse(Path("data/ch").resolve(), "journeys")),
    ],
)
def test_embedded_clickhouse_urls(url: str, expected: EmbeddedClickHouse) -> None:
    assert parse_clickhouse_url(url, None) == expected


def test_server_url_defaults_and_database_override() -> None:
    target = parse_clickhouse_url("http://ch", "override")
    assert isinstance(target, ClickHouseServer)
    assert (target.port, target.username, target.database) == (8123, "default", "override")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://x", "scheme 'mysql' is not supported"),
        ("http://", "needs a host"),
        ("chdb://", "needs a directory"),
    ],
)
def test_bad_clickhouse_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_clickhouse_url(url, None)


def test_environment_variables_list_every_field_with_a_description() -> None:
    names = environment_variables()
    assert "KAFKA_BOOTSTRAP_SERVERS" in names
    assert "CLICKHOUSE_URL" in names
    assert "JOURNEYS_SESSIONS_INACTIVITY_GAP" in names
    for name, description in names.items():
        assert description.startswith(name + ":"), name


def test_identity_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.journeys.resolution import IdentityLimits

    assert load_settings().identity.limits() == dict(IdentityLimits().per_type)
    monkeypatch.setenv("JOURNEYS_IDENTITY_ANONYMOUS_ID_LIMIT", "2")
    assert load_settings().identity.limits()["anonymous_id"] == 2
    monkeypatch.setenv("JOURNEYS_IDENTITY_EMAIL_LIMIT", "0")
    with pytest.raises(ConfigError, match="JOURNEYS_IDENTITY_EMAIL_LIMIT"):
        load_settings()
    assert "JOURNEYS_IDENTITY_LOYALTY_ID_LIMIT" in environment_variables()


def test_the_public_development_key_is_flagged_only_with_a_clickhouse_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.worker import development_key_warning

    assert development_key_warning(load_settings()) is None  # the local stack
    monkeypatch.setenv("CLICKHOUSE_URL", "http://journeys:secret@clickhouse:8123/journeys")
    warning = development_key_warning(load_settings())
    assert warning is not None and "JOURNEYS_PRIVACY_HASH_KEY" in warning
    monkeypatch.setenv("JOURNEYS_PRIVACY_HASH_KEY", "a-secret-key-of-our-own-0123456789")
    assert development_key_warning(load_settings()) is None


def test_the_default_stage_model_is_found_wherever_the_command_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    model_file = load_settings().stages.model_file
    assert model_file.is_absolute() and model_file.is_file()
    assert model_file.parent.name == "stage_models"  # package data, installed with the code
