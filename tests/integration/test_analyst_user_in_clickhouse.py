"""The analyst user's file (deploy/clickhouse/users.d/analyst.xml) as ClickHouse itself
reads it: the embedded engine loads it as a server loads `users.d/`, and its access
tables say what the user may do. (The engine runs as its default user, so the limits
are read from `system.settings_profile_elements`, not tried as the analyst.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

pytestmark = pytest.mark.integration

USERS = REPO / "deploy" / "clickhouse" / "users.d" / "analyst.xml"

#: A server's own users.xml, reduced to its default user, and the config naming it.
SERVER_USERS = """<clickhouse>
    <profiles><default/></profiles>
    <users><default><profile>default</profile><password/>
        <networks><ip>::1</ip></networks><access_management>1</access_management></default></users>
    <quotas><default/></quotas>
</clickhouse>"""

READ_ACCESS = """
import json, sys
from chdb import session
s = session.Session(f":memory:?config-file={sys.argv[1]}")
def rows(sql):
    return [json.loads(line) for line in s.query(sql, "JSONEachRow").bytes().splitlines()]
print(json.dumps({
    "profile": rows("SELECT setting_name, value, max, writability FROM "
                    "system.settings_profile_elements WHERE profile_name = 'analyst_readonly'"),
    "user": rows("SELECT default_database, auth_type FROM system.users WHERE name = 'analyst'"),
    "inherits": rows("SELECT inherit_profile FROM system.settings_profile_elements "
                     "WHERE user_name = 'analyst'"),
    "grants": rows("SHOW GRANTS FOR analyst"),
}))
s.close()
"""


def access_of(tmp_path: Path) -> dict[str, Any]:
    """What ClickHouse makes of the analyst user, loaded beside a default user."""
    (tmp_path / "users.d").mkdir()
    (tmp_path / "users.xml").write_text(SERVER_USERS)
    (tmp_path / "users.d" / "analyst.xml").write_text(USERS.read_text())
    config = tmp_path / "config.xml"
    config.write_text(
        f"<clickhouse><users_config>{tmp_path / 'users.xml'}</users_config></clickhouse>"
    )
    done = subprocess.run(
        [sys.executable, "-c", READ_ACCESS, str(config)],
        env={**os.environ, "CLICKHOUSE_ANALYST_PASSWORD": "analyst-test-password"},
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_clickhouse_reads_the_analyst_user_as_read_only_with_limits_it_cannot_lift(
    tmp_path: Path,
) -> None:
    access = access_of(tmp_path)
    profile = {row["setting_name"]: row for row in access["profile"]}
    for name, value in {
        "readonly": "2",
        "allow_ddl": "0",
        "allow_introspection_functions": "0",
    }.items():
        assert (profile[name]["value"], profile[name]["writability"]) == (value, "CONST"), name
    for name in ("max_execution_time", "max_memory_usage", "max_result_rows"):
        assert profile[name]["max"] == profile[name]["value"] != None, name  # noqa: E711
    assert access["inherits"] == [{"inherit_profile": "analyst_readonly"}]
    assert access["user"] == [{"default_database": "journeys", "auth_type": ["plaintext_password"]}]
    # Least privilege: reading the pipeline's tables, nothing else (no file(), url(),
    # remote() or s3(), no SYSTEM, KILL or introspection).
    assert access["grants"] == [
        {"GRANTS FOR analyst": "GRANT SHOW TABLES, SHOW COLUMNS, SELECT ON journeys.* TO analyst"}
    ]
