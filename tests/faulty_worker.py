"""`journeys worker` whose ClickHouse is "down" while a flag file exists.

Run as `python -m tests.faulty_worker`. Every call into ClickHouse (inserts and queries)
fails with the error clickhouse-connect raises for an unreachable server while the file
named by JOURNEYS_TEST_CLICKHOUSE_DOWN exists: a fault injected at the client boundary,
for the embedded engine, which cannot be stopped on its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError

import pipeline.worker as worker_module
from pipeline.cli import main

FLAG = Path(os.environ["JOURNEYS_TEST_CLICKHOUSE_DOWN"])


class DownWhileFlagged:
    """A clickhouse-connect client that fails like a dead server while FLAG exists."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _check(self) -> None:
        if FLAG.exists():
            raise OperationalError("injected fault: ClickHouse is unreachable")

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._client.insert(*args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._client.query(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._client.command(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


_connect = worker_module.connect
worker_module.connect = lambda *args, **kwargs: DownWhileFlagged(_connect(*args, **kwargs))  # type: ignore[assignment]  # the injected fault
sys.argv = ["journeys", "worker"]
main()
