"""The ClickHouse server's analyst user (deploy/clickhouse/users.d/analyst.xml, mounted by
docker-compose.yml): read-only, and its limits are constraints a query cannot lift.

The file itself: each limit the profile sets is pinned by a constraint no higher than it
(tests/integration/test_analyst_user_in_clickhouse.py has ClickHouse read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.support import REPO

pytestmark = pytest.mark.unit

USERS = REPO / "deploy" / "clickhouse" / "users.d" / "analyst.xml"
PINNED = ("readonly", "allow_ddl", "allow_introspection_functions")
CAPPED = ("max_execution_time", "max_memory_usage", "max_result_rows")


def test_the_analyst_profile_is_read_only_and_its_limits_cannot_be_raised() -> None:
    root = ET.parse(USERS).getroot()
    profile_name = root.findtext("users/analyst/profile")
    profile = root.find(f"profiles/{profile_name}")
    assert profile is not None
    assert profile.findtext("readonly") == "2", "no writes, DDL or readonly=0"
    constraints = profile.find("constraints")
    assert constraints is not None
    for name in PINNED:
        assert constraints.find(f"{name}/const") is not None, f"{name} is not const"
    for name in CAPPED:
        limit = int(profile.findtext(name) or 0)
        cap = int(constraints.findtext(f"{name}/max") or 0)
        assert limit > 0 and cap == limit, f"{name}: set {limit}, capped at {cap}"
    assert root.findtext("users/analyst/access_management") == "0"
    assert root.find("users/analyst/password").get("from_env") == "CLICKHOUSE_ANALYST_PASSWORD"  # type: ignore[union-attr]


def test_compose_mounts_the_analyst_user() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    volumes = compose["services"]["clickhouse"]["volumes"]
    assert any(
        str(v).startswith("./deploy/clickhouse/users.d/analyst.xml:/etc/clickhouse-server/users.d/")
        for v in volumes
    )
