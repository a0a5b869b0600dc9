"""The Compose file: valid for docker-compose, and speaking the settings' language."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from pipeline.settings import WorkerSettings, environment_variables
from tests.support import REPO

pytestmark = pytest.mark.integration

COMPOSE = REPO / "docker-compose.yml"


SECRETS = (
    "CLICKHOUSE_WRITER_PASSWORD",
    "CLICKHOUSE_ANALYST_PASSWORD",
    "JOURNEYS_PRIVACY_HASH_KEY",
    "GRAFANA_ADMIN_PASSWORD",
)
LONG_RUNNING = ("kafka", "clickhouse", "worker", "generator", "prometheus", "grafana")


def compose_config(
    env: dict[str, str], tmp: Path, *profiles: str
) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    assert tool, (
        "docker-compose is missing: `make test` installs it (apt-get install docker-compose)"
    )
    quiet = {k: v for k, v in os.environ.items() if k not in SECRETS} | env
    empty = tmp / "empty.env"
    empty.write_text("")
    return subprocess.run(
        # --env-file: a developer's own .env beside the file must not fill the gaps
        [tool, "-f", str(COMPOSE), "--env-file", str(empty),
         *(arg for profile in profiles for arg in ("--profile", profile)), "config", "-q"],
        capture_output=True, text=True, check=False, env=quiet,
    )  # fmt: skip


def example_env() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


@pytest.mark.parametrize("profiles", [(), ("monitoring",), ("monitoring", "demo")])
def test_docker_compose_config_is_valid_with_the_example_secrets(
    profiles: tuple[str, ...], tmp_path: Path
) -> None:
    env = example_env()
    assert set(SECRETS) <= set(env)
    result = compose_config(env, tmp_path, *profiles)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", SECRETS)
def test_docker_compose_refuses_to_start_without_a_secret(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in example_env().items() if k != missing}
    result = compose_config(env, tmp_path)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_every_published_port_is_on_loopback_only() -> None:
    published = {
        name: service["ports"] for name, service in services().items() if "ports" in service
    }
    assert {"kafka", "clickhouse", "grafana", "prometheus"} <= set(published)
    for name, ports in published.items():
        assert isinstance(ports, list)
        assert all(str(port).startswith("127.0.0.1:") for port in ports), (name, ports)


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_restart_rotate_their_logs_and_have_a_memory_limit(
    service: str,
) -> None:
    spec = services()[service]
    assert spec["restart"] == "unless-stopped"
    logging = spec["logging"]
    assert isinstance(logging, dict) and logging["options"]["max-size"]
    assert spec["mem_limit"]


def test_images_are_pinned_and_workers_keep_no_volume() -> None:
    for name, service in services().items():
        image = str(service.get("image", ""))
        assert image and not image.endswith(":latest") and ":" in image, name
    assert "volumes" not in services()["worker"]  # state lives in Kafka, recovered at start


def test_kafka_answers_the_host_for_replays() -> None:
    kafka = services()["kafka"]
    environment = kafka["environment"]
    assert isinstance(environment, dict)
    assert "HOST://localhost:" in environment["KAFKA_ADVERTISED_LISTENERS"]
    assert any(str(port).endswith(":9094") for port in kafka["ports"])  # type: ignore[attr-defined]


def services() -> dict[str, dict[str, object]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("service", ["worker", "migrate", "generator"])
def test_pipeline_services_only_set_known_settings(service: str) -> None:
    environment = services()[service]["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - set(environment_variables())
    assert not unknown, f"{service} sets variables no setting reads: {sorted(unknown)}"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL"} <= set(environment)


def test_workers_can_scale_each_on_a_host_port_of_its_own() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker
    [published] = worker["ports"]  # type: ignore[misc]
    first, last = re.fullmatch(
        r"127\.0\.0\.1:\$\{WORKER_HOST_PORTS:-(\d+)-(\d+)\}:6066", published
    ).groups()  # type: ignore[union-attr]
    # As many ports as partitions (the most workers that get any), the first the local
    # stack's own (the docs' http://127.0.0.1:6066/map/).
    assert (int(first), int(last) - int(first) + 1) == (6066, 8)
    assert "${KAFKA_PARTITIONS:-8}" in COMPOSE.read_text()


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


def test_the_worker_image_is_installed_without_the_local_extras_and_pinned() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    heavy = {"chdb", "pyarrow"}
    assert not {re.split(r"[<>=\[ ]", dep)[0] for dep in project["dependencies"]} & heavy
    assert {
        re.split(r"[<>=\[ ]", dep)[0] for dep in project["optional-dependencies"]["local"]
    } == heavy
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "RUN pip install -c constraints.txt . " in dockerfile
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    pinned = {
        line.split("==")[0].lower()
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert {"faust-streaming", "aiokafka", "clickhouse-connect", "chdb", "pyarrow"} <= pinned
