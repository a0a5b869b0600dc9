"""The Grafana dashboards of the monitoring profile (deploy/monitoring/grafana), read the
way the tests check them: their panels' queries, and the ClickHouse ones made runnable
outside Grafana (its macros and variables filled in)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from tests.support import REPO

MONITORING = REPO / "deploy" / "monitoring"
DASHBOARDS = MONITORING / "grafana" / "dashboards"


def dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard file's JSON, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def targets(kind: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard file, panel, target) of every query of the data source type `kind`."""
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == kind:
                    yield name, panel, target


def runnable(sql: str, stages: Sequence[str]) -> str:
    """A ClickHouse panel's SQL with the plugin's macros filled in: the time filter open to
    all time, the `stage` variable's condition kept and set to every stage."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= toDateTime64(0, 3)", sql)
    sql = re.sub(r"\$__conditionalAll\((.*?), \$stage\)", r"\1", sql)
    quoted = ", ".join("'" + stage.replace("'", "\\'") + "'" for stage in stages)
    return sql.replace("${stage:singlequote}", quoted)
