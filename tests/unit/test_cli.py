"""The `journeys` command's own manners: --version, settings as they would be written in
the environment, one line per bad setting, a warning for a misspelt one."""

from __future__ import annotations

import importlib.util
import json
import logging
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app, main
from pipeline.settings import environment_variables, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables():
        monkeypatch.delenv(name, raising=False)


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert (code, out) == (0, f"journeys {version('journeys')}\n")


def test_settings_as_env_lines_read_back_as_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = {
        "JOURNEYS_WINDOWS_SIZES": "PT5M,PT1H",
        "JOURNEYS_SESSIONS_INACTIVITY_GAP": "PT45M",
        "JOURNEYS_SESSIONS_PROVISIONAL_ROWS": "false",
        "JOURNEYS_SINK_BATCH_SECONDS": "0.25",
        "KAFKA_TOPIC_PREFIX": "shop-a.",
        "JOURNEYS_ALERTS_RUNBOOK_URL": "https://wiki.example/on call?page=1&v=2",
    }
    code, out, _ = run("settings", "--format", "env", **chosen)
    assert code == 0
    written = dict(
        shlex.split(line)[0].split("=", 1) for line in out.splitlines() if not line.startswith("#")
    )
    assert written["JOURNEYS_WINDOWS_SIZES"] == "300,3600"
    assert written["JOURNEYS_SESSIONS_INACTIVITY_GAP"] == "2700"
    assert written["JOURNEYS_ALERTS_RUNBOOK_URL"] == "https://wiki.example/on call?page=1&v=2"
    assert written["JOURNEYS_PRIVACY_HASH_KEY"] == "********"  # a secret stays masked
    assert written["CLICKHOUSE_URL"].startswith("chdb:")  # a directory is no secret
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    expected = load_settings()
    for name, value in written.items():
        if name != "JOURNEYS_PRIVACY_HASH_KEY":
            monkeypatch.setenv(name, value)
    assert load_settings() == expected


def test_settings_mask_only_the_secret_part_of_urls() -> None:
    code, out, _ = run(
        "settings",
        "--format",
        "json",
        CLICKHOUSE_URL="https://writer:s3cret@ch.example:8443/journeys",
        JOURNEYS_ALERTS_WEBHOOK_URL="https://hooks.slack.com/services/T0/B0/t0ken",
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["CLICKHOUSE_URL"] == "https://writer:****@ch.example:8443/journeys"
    assert shown["JOURNEYS_ALERTS_WEBHOOK_URL"] == "https://hooks.slack.com/****"
    assert shown["KAFKA_BOOTSTRAP_SERVERS"] is None
    assert "s3cret" not in out and "t0ken" not in out


def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOURNEYS_WINDOWS_SIZES", "[PT1H")
    monkeypatch.setattr(sys, "argv", ["journeys", "settings"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0] == "configuration error: invalid configuration:"
    assert len(lines) == 2 and lines[1].strip().startswith("JOURNEYS_WINDOWS_SIZES (got '[PT1H')")
    assert "Traceback" not in err


def test_a_misspelt_setting_is_warned_about_with_the_right_name() -> None:
    code, _, err = run(
        "settings", JOURNEYS_SESSION_IDLE_AFTER="3", JOURNEYS_TEST_ANYTHING="the suite's own"
    )
    assert code == 0
    assert err.splitlines() == [
        "warning: JOURNEYS_SESSION_IDLE_AFTER is not a Journeys setting and is ignored "
        "(did you mean JOURNEYS_SESSIONS_IDLE_AFTER?)"
    ]


def test_retried_coordinator_lookups_are_not_logged_as_errors() -> None:
    from aiokafka import errors

    from pipeline.worker import RetriedLookups

    def record(error: Exception) -> logging.LogRecord:
        made = logging.LogRecord(
            "aiokafka.consumer.group_coordinator", logging.ERROR, __file__, 1,
            "Group Coordinator Request failed: %s", (error,), None,
        )  # fmt: skip
        assert RetriedLookups().filter(made)
        return made

    retried = record(errors.CoordinatorNotAvailableError())
    assert (retried.levelname, retried.getMessage()[-10:]) == ("INFO", "(retrying)")
    assert record(errors.GroupAuthorizationFailedError()).levelname == "ERROR"


def test_without_the_local_extras_the_embedded_engine_and_parquet_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipeline.clickhouse import client
    from pipeline.errors import ClickHouseError, ConfigError
    from pipeline.files.readers import ParquetReader
    from pipeline.settings import EmbeddedClickHouse

    real = importlib.util.find_spec
    monkeypatch.setattr(
        client.importlib.util, "find_spec", lambda name: None if name == "chdb" else real(name)
    )
    with pytest.raises(
        ClickHouseError, match=r"chdb is not installed: pip install 'journeys\[local\]'"
    ):
        client.connect(EmbeddedClickHouse(tmp_path / "ch", "journeys"))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails as if missing
    with pytest.raises(ConfigError, match=r"Parquet files need pyarrow"):
        ParquetReader(tmp_path / "orders.parquet", {})
