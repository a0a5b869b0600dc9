"""Baseline: a peer of the pipeline in Quix Streams, on the same raw topics.

What it does per record, with the project's own pure functions where they exist:

    raw bytes -> Normalizer (same contracts, same PII hashing) -> Touchpoint | dead letter
              -> bots counted and dropped; others to a topic keyed by customer (a hop)
              -> per customer, in Quix's state store: session (30 min inactivity gap,
                 24 h at most), purchases, current stage (the project's stage model)
              -> stage entered/advanced -> per stage (group_by: a hop)
              -> 1 h tumbling windows in event time, counted in Quix's window store

Simpler than the pipeline on purpose: no allowed-lateness buffering, no session or
journey records, no ClickHouse. It finishes when every record was dead-lettered,
dropped as a bot, or sessionized.

Usage:
    python -m pipeline.bench.baselines.quix_peer --bootstrap HOST:PORT \
        --topics a,b --group g --expected 50000 --result out.json --workdir /tmp/x
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from quixstreams import Application, State, message_context
from quixstreams.models import TopicConfig

from pipeline.bench.baselines.progress import Progress, arguments
from pipeline.gc_tuning import tune_garbage_collector
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.ingest.normalize import Limits, Normalizer, RawRecord, normalize_safely
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.identity import anchor_key
from pipeline.journeys.stages import StageModel, load_stage_model
from pipeline.settings import Settings, load_settings
from schemas.touchpoint import Channel, Touchpoint


class Peer:
    """The per-record functions of the peer, bound to the project's settings."""

    def __init__(self, settings: Settings, stage_model: StageModel, progress: Progress) -> None:
        ingest = settings.ingest
        self.normalizer = Normalizer(
            PiiHasher(settings.privacy.hash_key.get_secret_value().encode(), ingest.phone_region),
            Limits(ingest.max_payload_bytes, ingest.max_clock_skew, ingest.max_event_age),
        )
        self.model = stage_model
        self.gap = settings.sessions.inactivity_gap.total_seconds()
        self.max_length = settings.sessions.max_length.total_seconds()
        self.progress = progress
        self.finished = False

    def normalize(self, value: bytes, key: bytes | None, _ts: int, headers: Any) -> Any:
        # raw bytes -> {"customer", "touchpoint"} | None (dead letter or bot: done here)
        context = message_context()
        topic = context.topic
        channel = Channel(topic.rsplit(".", 1)[-1])
        record = RawRecord(topic, context.partition, context.offset, key, value, headers or ())
        result = normalize_safely(self.normalizer, channel, record, datetime.now(UTC))
        if not isinstance(result, Touchpoint) or result.is_bot:
            self._processed()
            return None
        customer = anchor_key(result.identities) or f"event:{result.event_id}"
        return {"customer": customer, "touchpoint": msgspec.to_builtins(result)}

    def sessionize(self, value: dict[str, Any], state: State[Any, Any]) -> list[dict[str, Any]]:
        # (customer, Touchpoint) -> stage moves, with the customer's state updated
        touchpoint = msgspec.convert(value["touchpoint"], Touchpoint)
        at = touchpoint.event_time.timestamp()
        journey: dict[str, Any] = state.get("journey") or {"purchases": 0, "stage": None}
        last = journey.get("last")
        if last is None or at - last > self.gap or at - journey["start"] > self.max_length:
            journey.update(session=touchpoint.event_id, start=at, touchpoints=0)
        journey["last"] = max(at, last or at)
        journey["touchpoints"] += 1
        moves = []
        stage = self.model.classify(touchpoint, journey["purchases"])
        current = journey["stage"]
        if stage is not None and (
            current is None or self.model.rank(stage) > self.model.rank(current)
        ):
            moves.append({"stage": stage, "from": current, "at": int(at * 1000)})
            journey["stage"] = stage
        if self.model.is_purchase(touchpoint):
            journey["purchases"] += 1
        state.set("journey", journey)
        self._processed()
        return moves

    def _processed(self) -> None:
        self.finished = self.progress.add() or self.finished


def build(app: Application, topics: list[str], peer: Peer, group: str, partitions: int) -> None:
    """The peer's dataframes: a normaliser per raw topic into one topic keyed by customer
    (concatenating fourteen topics before a group_by gives a repartition topic name past
    Kafka's limit), then the sessionizer and the stage counts."""
    canonical = app.topic(
        f"{group}.canonical",
        key_serializer="str",
        key_deserializer="str",
        config=TopicConfig(num_partitions=partitions, replication_factor=1),
    )
    for name in topics:
        raw = app.dataframe(app.topic(name, value_deserializer="bytes", key_deserializer="bytes"))
        raw = raw.apply(peer.normalize, metadata=True).filter(lambda value: value is not None)
        raw.to_topic(canonical, key=lambda value: value["customer"])
    sdf = app.dataframe(canonical).apply(peer.sessionize, stateful=True, expand=True)
    sdf = sdf.set_timestamp(lambda value, _key, _ts, _headers: int(value["at"]))
    sdf = sdf.group_by(lambda value: value["stage"], name="stage")
    # A day of grace: moves reach a stage partition from every customer partition, in
    # whatever order those partitions were read.
    sdf.tumbling_window(timedelta(hours=1), grace_ms=timedelta(days=1)).count().final()


def main() -> None:
    args = arguments(__doc__ or "")
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    progress = Progress(args.expected, args.result)
    stage_model = load_stage_model(settings.stages.model_file, KNOWN_ACTIONS)
    peer = Peer(settings, stage_model, progress)

    def stop_when_done(*_: Any) -> None:
        if peer.finished:
            app.stop()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=str(args.workdir / "state"),
        loglevel="WARNING",
        on_message_processed=stop_when_done,
    )
    build(app, args.topics.split(","), peer, args.group, args.partitions)
    tune_garbage_collector(settings.worker.gc_threshold)  # as the pipeline's worker does
    app.run()


if __name__ == "__main__":
    main()
