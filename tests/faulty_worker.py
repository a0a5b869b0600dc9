"""`journeys worker` whose ClickHouse is "down" while a flag file exists.

Run as `python -m tests.faulty_worker`. While the file named by
JOURNEYS_TEST_CLICKHOUSE_DOWN exists, every call of the worker's writing client fails with
the error clickhouse-connect raises for an unreachable server, at once, or, when the file
says "timeout", after hanging for TIMEOUT seconds as a call to an overloaded server does:
a fault injected at the client boundary, for the embedded engine, which cannot be stopped
on its own. (Analysts' queries use connections of their own and still answer.)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError

import pipeline.worker as worker_module
from pipeline.cli import main

FLAG = Path(os.environ["JOURNEYS_TEST_CLICKHOUSE_DOWN"])
TIMEOUT = 5.0


class DownWhileFlagged:
    """A clickhouse-connect client that fails like a dead server while FLAG exists."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _check(self) -> None:
        try:
            mode = FLAG.read_text().strip()
        except FileNotFoundError:
            return
        if mode == "timeout":
            time.sleep(TIMEOUT)
            raise OperationalError("injected fault: ClickHouse timed out")
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
