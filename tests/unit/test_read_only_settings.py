"""Read-only queries ask for `readonly=1` unless the user is read-only already: Compose's
analyst user has `readonly` fixed at 2, and clickhouse-connect refuses to send a setting
the server reports as fixed ("Setting readonly is readonly")."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.models import SettingDef

from pipeline.clickhouse.client import READ_ONLY, read_only_settings

pytestmark = pytest.mark.unit


def client_reporting(settings: dict[str, SettingDef]) -> Client:
    """A client as far as read_only_settings looks: the settings its server reported."""
    return cast(Client, SimpleNamespace(server_settings=settings))


@pytest.mark.parametrize(
    ("reported", "sent"),
    [
        ({"readonly": SettingDef("readonly", "0", 0)}, READ_ONLY),  # the writer, a default user
        ({}, READ_ONLY),  # a server that did not say
        ({"readonly": SettingDef("readonly", "2", 1)}, {}),  # the analyst: fixed at 2
        ({"readonly": SettingDef("readonly", "1", 1)}, {}),
    ],
)
def test_readonly_is_asked_for_only_where_the_user_may_still_write(
    reported: dict[str, SettingDef], sent: dict[str, Any]
) -> None:
    assert read_only_settings(client_reporting(reported)) == sent
