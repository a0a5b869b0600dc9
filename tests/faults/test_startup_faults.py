"""A worker that cannot keep its data refuses to start, at once, in one line that names
the setting and says why: a ClickHouse directory that is not one, one in use by another
process, and a full disk."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import REPO, base_env

pytestmark = pytest.mark.fault


def start_worker(
    clickhouse: Path, tmp_path: Path, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`journeys worker` on `clickhouse` (run under `prefix`, a command it is handed to)."""
    env = base_env(
        CLICKHOUSE_URL=f"chdb://{clickhouse}?database=journeys",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # never reached: ClickHouse comes first
        JOURNEYS_WORKER_DATA_DIR=str(tmp_path / "faust"),
    )
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pipeline", "worker"],
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


def on_a_small_disk(mount: Path, *, filled: bool) -> list[str]:
    """A command prefix: the command runs with a 4 MiB filesystem of its own at `mount`,
    filled to the last byte if `filled`. The filesystem lives in a private user and mount
    namespace (no root needed, nothing to unmount: it goes with the process); a refused
    mount ends the command with code 97 and the reason."""
    fill = 'dd if=/dev/zero of="$0/filler" bs=64k 2>/dev/null; ' if filled else ""
    script = f'mount -t tmpfs -o size=4m tmpfs "$0" || exit 97; {fill}exec "$@"'
    mount.mkdir()
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(mount)]


def test_a_full_disk(tmp_path: Path) -> None:
    disk = tmp_path / "small-disk"
    line = refusal(start_worker(disk / "clickhouse", tmp_path, on_a_small_disk(disk, filled=True)))
    assert (
        line
        == f"error: CLICKHOUSE_URL: cannot write to {disk / 'clickhouse'}: No space left on device"
    )


def test_a_disk_with_too_little_space(tmp_path: Path) -> None:
    disk = tmp_path / "small-disk"  # 4 MiB free: less than the engine needs
    line = refusal(start_worker(disk / "clickhouse", tmp_path, on_a_small_disk(disk, filled=False)))
    assert "MiB free on the disk of" in line and "point CLICKHOUSE_URL elsewhere" in line, line
