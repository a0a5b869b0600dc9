"""A worker that cannot keep its data refuses to start, at once, in one line that names
the setting and says why: a ClickHouse directory that is not one, one in use by another
process, and a full disk."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, base_env

pytestmark = pytest.mark.fault


def start_worker(clickhouse: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = base_env(
        CLICKHOUSE_URL=f"chdb://{clickhouse}?database=journeys",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # never reached: ClickHouse comes first
        JOURNEYS_WORKER_DATA_DIR=str(tmp_path / "faust"),
    )
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "worker"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def test_a_clickhouse_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    line = refusal(start_worker(tmp_path / "a-file" / "clickhouse", tmp_path))
    assert line.startswith("error: CLICKHOUSE_URL: cannot write to"), line
    assert line.endswith("Not a directory"), line


def test_a_clickhouse_directory_in_use_by_another_process(tmp_path: Path) -> None:
    directory = tmp_path / "clickhouse"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from chdb import session; "
         "s = session.Session(sys.argv[1]); s.query('SELECT 1'); print('held', flush=True); "
         "time.sleep(300)", str(directory)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        line = refusal(start_worker(directory, tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert f"is in use by another process (PID: {holder.pid})" in line, line


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A small filesystem of this test's own, filled to the last byte."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if made.returncode != 0:
        why = f"a full disk needs a small filesystem: mount refused ({made.stderr.strip()})"
        if os.environ.get("CI"):  # CI runs as root (the README's commands install as root)
            pytest.fail(why)
        pytest.skip(why)  # a developer's machine without root: said in the summary
    try:
        with (mount / "filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk(full_disk: Path, tmp_path: Path) -> None:
    line = refusal(start_worker(full_disk / "clickhouse", tmp_path))
    where = full_disk / "clickhouse"
    assert line == f"error: CLICKHOUSE_URL: cannot write to {where}: No space left on device"


def test_a_disk_with_too_little_space(full_disk: Path, tmp_path: Path) -> None:
    (full_disk / "filler").unlink()  # 4 MiB free: less than the engine needs
    line = refusal(start_worker(full_disk / "clickhouse", tmp_path))
    assert "MiB free on the disk of" in line and "point CLICKHOUSE_URL elsewhere" in line, line
