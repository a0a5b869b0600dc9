"""Output records -> ClickHouse rows: each table's columns and how a record fills them.

`TABLES` declares every table the pipeline writes, once: the flush, the tests and the
docs loop over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from pipeline.metrics.windows import WindowReport
from schemas.outputs import (
    AttributionCredit,
    Contributor,
    CustomerMerge,
    DropoffAlert,
    EnrichedTouchpoint,
    IdentityLink,
    IdentityViolation,
    JourneySnapshot,
    SessionRecord,
    StageTransition,
    StepWindow,
)

TOUCHPOINT_COLUMNS: tuple[str, ...] = (
    "event_id", "event_time", "received_at", "customer_id", "session_id", "stage", "sequence",
    "is_late", "is_bot", "channel", "platform", "action", "anonymous_id", "user_id",
    "email_hash", "phone_hash", "loyalty_id", "device_id", "campaign_source",
    "campaign_medium", "campaign_name", "campaign_content", "campaign_term", "campaign_id",
    "ad_group_id", "ad_id", "revenue", "currency", "score", "sentiment", "properties",
    "raw_topic", "raw_partition", "raw_offset", "_version",
)  # fmt: skip

#: Versions of a touchpoint's row (`_version`; the highest is the one FINAL reads): at
#: arrival before its customer's partition placed it, provisional, final.
UNPLACED, PROVISIONAL, FINAL = 0, 1, 2


def touchpoint_row(placed: EnrichedTouchpoint, version: int = FINAL) -> tuple[object, ...]:
    t = placed.touchpoint
    ids, c = t.identities, t.campaign
    return (
        t.event_id, t.event_time, t.received_at, placed.customer_id, placed.session_id,
        placed.stage, placed.sequence, placed.is_late, t.is_bot, t.channel.value, t.platform,
        t.action,
        ids.anonymous_id, ids.user_id, ids.email_hash, ids.phone_hash, ids.loyalty_id,
        ids.device_id,
        c.source if c else None, c.medium if c else None, c.name if c else None,
        c.content if c else None, c.term if c else None, c.campaign_id if c else None,
        c.ad_group_id if c else None, c.ad_id if c else None,
        t.revenue, t.currency, t.score, t.sentiment, dict(t.properties),
        t.raw.topic, t.raw.partition, t.raw.offset, version,
    )  # fmt: skip


SESSION_COLUMNS: tuple[str, ...] = (
    "session_id", "customer_id", "version", "status", "started_at", "ended_at",
    "duration_seconds", "touchpoints", "channels", "entry_event_id", "entry_channel",
    "entry_campaign", "entry_source", "segment", "exit_event_id", "exit_channel", "stage_at_start",
    "stage_at_end", "stages_reached", "converted", "revenue", "passed", "dropped_off_at",
    "is_late", "funnel_reached", "funnel_dropped_at", "dimensions",
)  # fmt: skip


def session_row(s: SessionRecord) -> tuple[object, ...]:
    return tuple(getattr(s, column) for column in SESSION_COLUMNS)


TRANSITION_COLUMNS: tuple[str, ...] = (
    "transition_id", "customer_id", "session_id", "kind", "from_stage", "to_stage",
    "event_time", "seconds_since_previous", "event_id", "channel", "campaign", "segment",
    "is_late",
)  # fmt: skip


def transition_row(t: StageTransition) -> tuple[object, ...]:
    return tuple(getattr(t, column) for column in TRANSITION_COLUMNS)


JOURNEY_COLUMNS: tuple[str, ...] = (
    "customer_id", "version", "stage", "first_reached", "sessions", "touchpoints",
    "purchases", "revenue", "first_event_id", "first_seen", "first_channel",
    "last_event_id", "last_seen", "last_channel",
)  # fmt: skip


def journey_row(j: JourneySnapshot) -> tuple[object, ...]:
    return tuple(getattr(j, column) for column in JOURNEY_COLUMNS)


PARTIAL_COLUMNS: tuple[str, ...] = (
    "window_size_seconds", "window_start", "partition", "dimension", "value", "stage",
    "metric", "count", "version",
)  # fmt: skip


def partial_rows(report: WindowReport) -> list[tuple[object, ...]]:
    """One row per count of every partial in a window report (none for a heartbeat)."""
    return [
        (p.size_seconds, p.window_start, p.partition, dimension, value, stage, metric, count,
         p.version)
        for p in report.partials
        for dimension, value, stage, metric, count in p.counts
    ]  # fmt: skip


ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id", "status", "stage", "next_stage", "window_size_seconds", "window_start",
    "window_end", "episode_started_at", "observed_rate", "baseline_rate", "sessions",
    "dropped", "z_score", "p_value", "severity", "contributors", "contributor_shares",
)  # fmt: skip


def alert_row(a: DropoffAlert) -> tuple[object, ...]:
    values = [getattr(a, column) for column in ALERT_COLUMNS[:-2]]
    contributors = [
        (c.dimension, c.value, c.dropped, c.sessions, c.rate, c.excess) for c in a.contributors
    ]
    shares = [(c.share, c.sessions_share) for c in a.contributors]
    return (*values, contributors, shares)


STEP_WINDOW_COLUMNS: tuple[str, ...] = (
    "stage", "next_stage", "window_size_seconds", "window_start", "window_end", "sessions",
    "dropped", "observed_rate", "baseline_rate", "evidence", "anomalous", "alert_id",
)  # fmt: skip


def step_window_row(w: StepWindow) -> tuple[object, ...]:
    return tuple(getattr(w, column) for column in STEP_WINDOW_COLUMNS)


MARKOV_COLUMNS: tuple[str, ...] = (
    "day", "lookback_days", "channel", "removal_effect", "conversions", "paths",
    "path_conversions", "conversion_probability", "computed_at",
)  # fmt: skip

CREDIT_COLUMNS: tuple[str, ...] = (
    "conversion_id", "goal", "customer_id", "converted_at", "model", "touch_event_id",
    "touch_time",
    "channel", "campaign", "source", "conversions", "revenue", "version",
)  # fmt: skip


def credit_row(c: AttributionCredit) -> tuple[object, ...]:
    return tuple(getattr(c, column) for column in CREDIT_COLUMNS)


LINK_COLUMNS: tuple[str, ...] = (
    "identifier", "identifier_type", "customer_id", "version", "reason", "via", "event_id",
    "event_time",
)  # fmt: skip


def link_row(link: IdentityLink) -> tuple[object, ...]:
    return tuple(getattr(link, column) for column in LINK_COLUMNS)


MERGE_COLUMNS: tuple[str, ...] = (
    "loser_id", "winner_id", "loser_born", "winner_born", "identifier", "via", "event_id",
    "event_time",
)  # fmt: skip


def merge_row(merge: CustomerMerge) -> tuple[object, ...]:
    return tuple(getattr(merge, column) for column in MERGE_COLUMNS)


VIOLATION_COLUMNS: tuple[str, ...] = (
    "identifier", "identifier_type", "partner", "partner_type", "customer_id", "limit",
    "event_id", "event_time",
)  # fmt: skip


def violation_row(violation: IdentityViolation) -> tuple[object, ...]:
    return tuple(getattr(violation, column) for column in VIOLATION_COLUMNS)


TOUCHPOINTS = "touchpoints"
SESSIONS = "sessions"
TRANSITIONS = "stage_transitions"
JOURNEYS = "journeys"
PARTIALS = "conversion_partials"
IDENTITY_LINKS = "identity_links"
CUSTOMER_MERGES = "customer_merges"
IDENTITY_VIOLATIONS = "identity_violations"
ALERTS = "alerts"
CREDITS = "attribution_credits"
MARKOV = "markov_attribution"
STEP_WINDOWS = "step_windows"

#: Table -> columns, for every table the partition pipelines fill at each flush.
TABLES: dict[str, tuple[str, ...]] = {
    TOUCHPOINTS: TOUCHPOINT_COLUMNS,
    SESSIONS: SESSION_COLUMNS,
    TRANSITIONS: TRANSITION_COLUMNS,
    JOURNEYS: JOURNEY_COLUMNS,
    PARTIALS: PARTIAL_COLUMNS,
    IDENTITY_LINKS: LINK_COLUMNS,
    CUSTOMER_MERGES: MERGE_COLUMNS,
    IDENTITY_VIOLATIONS: VIOLATION_COLUMNS,
    CREDITS: CREDIT_COLUMNS,
}

#: Tables where ClickHouse collapses a row's versions (ReplacingMergeTree) and one flush
#: often makes several versions of a row (a session or a journey changes with each
#: touchpoint a release applies): the columns that identify a row, and the version column
#: (None: the last row inserted wins). A flush writes only the version ClickHouse keeps.
COLLAPSED_BY: dict[str, tuple[tuple[str, ...], str | None]] = {
    TOUCHPOINTS: (("event_id",), "_version"),
    SESSIONS: (("customer_id", "session_id"), "version"),
    JOURNEYS: (("customer_id",), "version"),
    IDENTITY_LINKS: (("identifier",), "version"),
    CUSTOMER_MERGES: (("loser_id",), None),
    CREDITS: (("conversion_id", "model", "touch_event_id"), "version"),
}
_COLLAPSING = {
    table: (
        itemgetter(*(TABLES[table].index(column) for column in key)),
        None if version is None else TABLES[table].index(version),
    )
    for table, (key, version) in COLLAPSED_BY.items()
}


def latest_versions(table: str, made: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """`made` (in the order it was made) without the rows ClickHouse would replace: per
    key, the highest version, the last of equal ones."""
    collapsing = _COLLAPSING.get(table)
    if collapsing is None or len(made) < 2:
        return list(made)
    key_of, version = collapsing
    kept: dict[object, tuple[object, ...]] = {}
    for row in made:
        key = key_of(row)
        held = kept.get(key)
        if held is None or version is None or row[version] >= held[version]:  # type: ignore[operator]
            kept[key] = row
    return list(kept.values())


#: Episodes firing: a firing row and no resolved row yet (its values by ALERT_COLUMNS).
FIRING_ALERTS_SQL = (
    f"SELECT {', '.join(ALERT_COLUMNS)} FROM {ALERTS} FINAL WHERE status = 'firing' "
    f"AND alert_id NOT IN (SELECT alert_id FROM {ALERTS} WHERE status = 'resolved')"
)


def alert_of_row(values: Sequence[object]) -> DropoffAlert:
    """The alert an `alerts` row was made of (`alert_row` read back)."""
    record = dict(zip(ALERT_COLUMNS, values, strict=True))
    fields = Contributor.model_fields
    record["contributors"] = [
        dict(zip(fields, c.values() if isinstance(c, dict) else c, strict=True))
        for c in record["contributors"]  # type: ignore[attr-defined]  # a list of tuples
    ]
    return DropoffAlert.model_validate(record)
