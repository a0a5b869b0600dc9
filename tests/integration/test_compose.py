"""The Compose file: valid for docker-compose, and speaking the settings' language."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.settings import WorkerSettings, environment_variables
from tests.support import REPO

pytestmark = pytest.mark.integration

COMPOSE = REPO / "docker-compose.yml"


SECRETS = ("CLICKHOUSE_WRITER_PASSWORD", "CLICKHOUSE_ANALYST_PASSWORD", "JOURNEYS_PRIVACY_HASH_KEY")


def compose_config(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    assert tool, (
        "docker-compose is missing: `make test` installs it (apt-get install docker-compose)"
    )
    quiet = {k: v for k, v in os.environ.items() if k not in SECRETS} | env
    empty = tmp / "empty.env"
    empty.write_text("")
    return subprocess.run(
        # --env-file: a developer's own .env beside the file must not fill the gaps
        [tool, "-f", str(COMPOSE), "--env-file", str(empty), "config", "-q"],
        capture_output=True, text=True, check=False, env=quiet,
    )  # fmt: skip


def example_env() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_docker_compose_config_is_valid_with_the_example_secrets(tmp_path: Path) -> None:
    env = example_env()
    assert set(SECRETS) <= set(env)
    result = compose_config(env, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", SECRETS)
def test_docker_compose_refuses_to_start_without_a_secret(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in example_env().items() if k != missing}
    result = compose_config(env, tmp_path)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_clickhouse_is_published_on_loopback_only() -> None:
    ports = services()["clickhouse"]["ports"]
    assert isinstance(ports, list)
    assert all(str(port).startswith("127.0.0.1:") for port in ports), ports


def services() -> dict[str, dict[str, object]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("service", ["worker", "migrate", "generator"])
def test_pipeline_services_only_set_known_settings(service: str) -> None:
    environment = services()[service]["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - set(environment_variables())
    assert not unknown, f"{service} sets variables no setting reads: {sorted(unknown)}"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL"} <= set(environment)


def test_workers_can_scale() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_files_the_compose_file_mounts_or_builds_exist() -> None:
    compose = services()
    for service in compose.values():
        for volume in service.get("volumes", []):  # type: ignore[attr-defined]
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), source
        build = service.get("build")
        if isinstance(build, dict):
            assert (REPO / str(build["context"]) / str(build["dockerfile"])).exists()
    for line in (REPO / "deploy" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"deploy/Dockerfile copies missing {source}"


def test_docker_waits_for_a_worker_to_stop_before_killing_it() -> None:
    grace = str(services()["worker"]["stop_grace_period"])  # type: ignore[index]
    assert grace.endswith("s")
    stop_timeout = WorkerSettings.model_fields["stop_timeout"].default
    assert float(grace[:-1]) >= stop_timeout + 5, "SIGKILL must not cut a stop short"
