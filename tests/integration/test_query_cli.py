"""`journeys query` without a worker: opens the embedded engine itself, read-only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.localstack.kafka import free_port
from tests.integration.test_local_kafka_cli import journeys
from tests.support import base_env

pytestmark = pytest.mark.integration


def test_query_opens_the_embedded_engine_when_no_worker_runs(tmp_path: Path) -> None:
    env = base_env(
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
        JOURNEYS_WORKER_WEB_PORT=str(free_port()),  # nothing listens there
    )
    assert journeys("migrate", env=env).returncode == 0
    as_json = journeys(
        "query", "SELECT stage, rank FROM stage_model ORDER BY rank", "--format", "json", env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == ""  # no worker has published a stage model yet
    counted = journeys(
        "query", "SELECT count() AS n, 'x' AS s FROM dead_letters", "--format", "json", env=env
    )
    assert [json.loads(line) for line in counted.stdout.splitlines()] == [{"n": 0, "s": "x"}]
    as_csv = subprocess.run(
        [sys.executable, "-m", "pipeline", "query", "SELECT 1 AS a, 'b,c' AS b", "--format", "csv"],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert as_csv.stdout == b'a,b\n1,"b,c"\n'  # lines end with \n, not \r\n
    table = journeys("query", "SELECT 42 AS answer", env=env)
    assert "answer" in table.stdout and "42" in table.stdout and "1 rows" in table.stdout


def test_query_refuses_writes(tmp_path: Path) -> None:
    env = base_env(
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}", JOURNEYS_WORKER_WEB_PORT=str(free_port())
    )
    assert journeys("migrate", env=env).returncode == 0
    for statement in ("DROP TABLE dead_letters", "INSERT INTO stage_model VALUES ('m', 's', 1)"):
        refused = journeys("query", statement, env=env)
        assert refused.returncode == 1
        assert "journeys query is read-only" in " ".join(refused.stderr.split())
    still_there = journeys("query", "EXISTS TABLE dead_letters", "--format", "csv", env=env)
    assert still_there.stdout.splitlines()[1] == "1"


def test_query_takes_parameters_a_file_or_stdin_and_never_cuts_values(tmp_path: Path) -> None:
    env = base_env(
        CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}", JOURNEYS_WORKER_WEB_PORT=str(free_port())
    )
    assert journeys("migrate", env=env).returncode == 0
    sql = "SELECT {who:String} AS who, {n:UInt32} * 2 AS twice, toDate({day:String}) AS day"
    bound = journeys(
        "query", sql, "-p", "who=O'Brien", "--param", "n=21", "-p", "day=2026-03-01",
        "--format", "json", env=env,
    )  # fmt: skip
    assert bound.returncode == 0, bound.stderr
    assert json.loads(bound.stdout) == {"who": "O'Brien", "twice": 42, "day": "2026-03-01"}
    saved = tmp_path / "question.sql"
    saved.write_text("SELECT {n:UInt8} + 1 AS next\n")
    from_file = journeys("query", "--file", str(saved), "-p", "n=1", "--format", "csv", env=env)
    assert from_file.stdout == "next\n2\n", from_file.stderr
    piped = subprocess.run(
        [sys.executable, "-m", "pipeline", "query", "--format", "csv"],
        input="SELECT 'from stdin' AS how", env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert piped.stdout == "how\nfrom stdin\n", piped.stderr
    long_value = "x" * 150
    table = journeys("query", f"SELECT '{long_value}' AS long", env=env)
    assert "".join(line.strip("│ ") for line in table.stdout.splitlines()).count("x") == 150
    bad = journeys("query", "SELECT 1", "-p", "novalue", env=env)
    assert bad.returncode == 2 and "--param: 'novalue' is not NAME=VALUE" in bad.stderr
