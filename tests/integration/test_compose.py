"""The Compose file: valid for docker-compose, and speaking the settings' language."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.settings import environment_variables
from tests.support import REPO

pytestmark = pytest.mark.integration

COMPOSE = REPO / "docker-compose.yml"


def test_docker_compose_config_is_valid() -> None:
    tool = shutil.which("docker-compose")
    assert tool, (
        "docker-compose is missing: `make test` installs it (apt-get install docker-compose)"
    )
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


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


def test_the_analyst_user_is_read_only() -> None:
    analyst = (REPO / "deploy/clickhouse/users.d/analyst.xml").read_text()
    assert "<readonly>2</readonly>" in analyst
    assert Path(REPO / "deploy/clickhouse/users.d/analyst.xml").name in COMPOSE.read_text()
