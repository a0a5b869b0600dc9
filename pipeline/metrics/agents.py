"""Metrics agents: merge the partitions' window reports, detect spikes, deliver alerts.

journeys.window-reports (one partition) -> merge + detect -> journeys.alerts
                                                            and journeys.step-windows
journeys.alerts -> webhook (in the background; never slows the pipeline)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from pipeline.metrics.dropoff import DetectorConfig
from pipeline.metrics.merge import SizeState, merge_report
from pipeline.metrics.webhook import WebhookSender
from pipeline.metrics.windows import WindowReport
from pipeline.telemetry import Telemetry
from schemas.outputs import DropoffAlert


def register_metrics_agents(
    app: faust.App,
    reports: faust.TopicT,
    alerts: faust.TopicT,
    step_windows: faust.TopicT,
    *,
    partitions: int,
    stages: tuple[str, ...],
    funnel: tuple[str, ...] = (),
    sizes: Sequence[int],
    config: DetectorConfig,
    webhook: WebhookSender | None,
    telemetry: Telemetry | None = None,
) -> None:
    """Add the merger (and the webhook delivery, when configured) to `app`."""
    alerts_counted = (telemetry or Telemetry()).alerts
    table = app.Table("window_merge", partitions=1, key_type=str, value_type=bytes)

    # The state as last written, decoded: read again only when the table holds another
    # value (recovered, or written by an earlier owner of the partition).
    decoded: dict[int, tuple[bytes, SizeState]] = {}

    async def merge(stream: Any) -> None:
        # WindowReport -> merged final windows -> detector -> StepWindow, DropoffAlert
        async for event in stream.events():
            report = WindowReport.model_validate_json(event.value)
            for size in sizes:
                raw = table.get(str(size)) or b""
                known = decoded.get(size)
                if known is not None and known[0] == raw:
                    state = known[1]
                elif raw:
                    state = SizeState.model_validate_json(raw)
                else:
                    state = SizeState(size_seconds=size)
                judged = merge_report(state, report, partitions, stages, config, funnel=funnel)
                after = state.model_dump_json().encode()
                if after != raw:  # heartbeats mostly change nothing: no write
                    table[str(size)] = after
                decoded[size] = (after, state)
                for judgement in judged.windows:
                    await step_windows.send(
                        key=judgement.stage.encode(), value=judgement.model_dump_json().encode()
                    )
                for alert in judged.alerts:
                    await alerts.send(
                        key=alert.alert_id.encode(), value=alert.model_dump_json().encode()
                    )
                    alerts_counted.labels(alert.stage, alert.status).inc()

    app.agent(reports, name="metrics.merge")(merge)
    if webhook is None:
        return

    async def deliver(stream: Any) -> None:
        # DropoffAlert -> the webhook's queue (never waits)
        async for event in stream.events():
            webhook.submit(DropoffAlert.model_validate_json(event.value))

    app.agent(alerts, name="alerts.webhook")(deliver)
    app.task(webhook.run)
