"""The monitoring profile's files: Grafana dashboards and data sources, Prometheus's
scrape configuration. (Their ClickHouse queries run against real data in
tests/e2e/test_dropoff_incident.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.settings import WorkerSettings
from pipeline.telemetry import Telemetry
from tests.dashboards import MONITORING, dashboards, runnable, targets
from tests.support import REPO

pytestmark = pytest.mark.unit

PROVISIONING = MONITORING / "grafana" / "provisioning"


class Idle:
    """A pipeline with nothing assigned: the scrape-time families are served empty."""

    def input_lag(self) -> dict[tuple[str, int], int]:
        return {}

    def partition_figures(self) -> list[Any]:
        return []

    def state_size(self) -> tuple[int, int]:
        return 0, 0


def served_metrics() -> set[str]:
    """Every sample name a worker's /metrics can serve."""
    telemetry = Telemetry()
    telemetry.watch(Idle())
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(telemetry.exposition().decode())
        for suffix in suffixes.get(family.type, [""])
    }


def test_dashboards_have_unique_panels_on_the_grid_each_with_a_provisioned_source() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "journeys.yml").read_text())
    uids = {source["uid"]: source["type"] for source in sources["datasources"]}
    boards = dashboards()
    assert set(boards) == {"pipeline-health.json", "analyst.json"}
    assert len({board["uid"] for board in boards.values()}) == 2
    for board in boards.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), board["title"]
        for panel in board["panels"]:
            assert panel["title"] and set(panel["gridPos"]) == {"x", "y", "w", "h"}
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                source = target["datasource"]
                assert uids[source["uid"]] == source["type"], panel["title"]


def test_health_panels_ask_only_for_metrics_a_worker_serves() -> None:
    served = served_metrics()
    asked = set()
    for _, panel, target in targets("prometheus"):
        names = set(re.findall(r"\b(?:journeys|process)_[a-z_]+\b", target["expr"]))
        assert names, panel["title"]
        asked |= names
    assert asked <= served, sorted(asked - served)
    # Throughput, lag, errors, flush latency and freshness are all on the board.
    for name in ("journeys_records_in_total", "journeys_consumer_lag",
                 "journeys_insert_errors_total", "journeys_flush_seconds_bucket",
                 "journeys_watermark_delay_seconds"):  # fmt: skip
        assert name in asked


def test_analyst_panels_are_plain_sql_once_grafana_fills_them_in() -> None:
    sqls = [target["rawSql"] for _, _, target in targets("grafana-clickhouse-datasource")]
    assert len(sqls) >= 3
    for sql in sqls:
        filled = runnable(sql, ["awareness", "decision"])
        assert "$" not in filled, filled
    joined = " ".join(sqls)
    for table in ("funnel_by_stage", "conversion_counts", "alerts"):
        assert table in joined


def test_prometheus_scrapes_every_worker_on_its_web_port() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert discovery["port"] == WorkerSettings.model_fields["web_port"].default


def test_alerts_link_to_the_analyst_dashboard_by_default() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    link = compose["x-journeys-env"]["JOURNEYS_ALERTS_GENERATOR_URL"]
    uid = dashboards()["analyst.json"]["uid"]
    assert f"/d/{uid}/" in link and "{stage}" in link
