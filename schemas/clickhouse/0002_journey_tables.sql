-- The journey engine's outputs, one table per topic.
--
-- At-least-once delivery can emit the same fact twice at different Kafka offsets (a worker
-- that crashed after sending but before committing repeats the step). Insert tokens only
-- catch retried inserts, so every table here is a ReplacingMergeTree on the fact's natural
-- key, and the analyst views read them with FINAL: what analysts query has no duplicates.

-- One row per touchpoint, enriched with its customer, session and stage.
CREATE TABLE IF NOT EXISTS touchpoints
(
    event_id          String,
    event_time        DateTime64(3, 'UTC'),
    received_at       DateTime64(3, 'UTC'),
    customer_id       String,
    session_id        Nullable(String),          -- NULL for bot traffic
    stage             LowCardinality(Nullable(String)),
    sequence          UInt32,                    -- 1, 2, ... per customer (0 for bots)
    is_late           Bool,
    is_bot            Bool,
    channel           LowCardinality(String),
    platform          LowCardinality(String),
    action            LowCardinality(String),
    anonymous_id      Nullable(String),
    user_id           Nullable(String),
    email_hash        Nullable(String),
    phone_hash        Nullable(String),
    loyalty_id        Nullable(String),
    device_id         Nullable(String),
    campaign_source   LowCardinality(Nullable(String)),
    campaign_medium   LowCardinality(Nullable(String)),
    campaign_name     Nullable(String),
    campaign_content  Nullable(String),
    campaign_term     Nullable(String),
    campaign_id       Nullable(String),
    ad_group_id       Nullable(String),
    ad_id             Nullable(String),
    revenue           Nullable(Decimal(18, 4)),
    currency          LowCardinality(Nullable(String)),
    score             Nullable(Float64),
    sentiment         Nullable(Float64),
    properties        Map(String, String),
    raw_topic         LowCardinality(String),
    raw_partition     UInt32,
    raw_offset        Int64,
    _topic            LowCardinality(String),
    _partition        UInt32,
    _offset           Int64,
    _inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
PARTITION BY toYYYYMM(event_time)
-- A customer's timeline and per-customer funnels read one contiguous range.
ORDER BY (customer_id, event_time, event_id)
TTL toDateTime(event_time) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Every version of every session; the highest version is the session as it stands.
CREATE TABLE IF NOT EXISTS sessions
(
    session_id        String,
    customer_id       String,
    version           UInt32,
    status            LowCardinality(String),    -- opened | updated | closed
    started_at        DateTime64(3, 'UTC'),
    ended_at          DateTime64(3, 'UTC'),
    duration_seconds  Float64,
    touchpoints       UInt32,
    channels          Array(LowCardinality(String)),
    entry_event_id    String,
    entry_channel     LowCardinality(String),
    entry_campaign    Nullable(String),
    entry_source      LowCardinality(Nullable(String)),
    segment           LowCardinality(Nullable(String)),
    exit_event_id     String,
    exit_channel      LowCardinality(String),
    stage_at_start    LowCardinality(Nullable(String)),
    stage_at_end      LowCardinality(Nullable(String)),
    stages_reached    Array(LowCardinality(String)),
    converted         Bool,
    revenue           Decimal(18, 4),
    passed            Array(LowCardinality(String)),     -- stages moved on from
    dropped_off_at    LowCardinality(Nullable(String)),  -- ended here without converting
    is_late           Bool,
    _topic            LowCardinality(String),
    _partition        UInt32,
    _offset           Int64,
    _inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
-- Versions of one session sit together; FINAL keeps the highest.
ORDER BY (customer_id, session_id)
TTL toDateTime(started_at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Stage entered / advanced / dropped off.
CREATE TABLE IF NOT EXISTS stage_transitions
(
    transition_id          String,
    customer_id            String,
    session_id             String,
    kind                   LowCardinality(String),
    from_stage             LowCardinality(Nullable(String)),
    to_stage               LowCardinality(String),
    event_time             DateTime64(3, 'UTC'),
    seconds_since_previous Nullable(Float64),
    event_id               String,
    channel                LowCardinality(String),
    campaign               Nullable(String),
    segment                LowCardinality(Nullable(String)),
    is_late                Bool,
    _topic                 LowCardinality(String),
    _partition             UInt32,
    _offset                Int64,
    _inserted_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
PARTITION BY toYYYYMM(event_time)
-- Funnels count by stage over time; one customer's moves read by customer_id.
ORDER BY (to_stage, kind, event_time, customer_id, transition_id)
TTL toDateTime(event_time) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Each customer's journey; the highest version is the journey as it stands.
CREATE TABLE IF NOT EXISTS journeys
(
    customer_id       String,
    version           UInt64,
    stage             LowCardinality(Nullable(String)),
    first_reached     Map(LowCardinality(String), DateTime64(3, 'UTC')),
    sessions          UInt32,
    touchpoints       UInt32,
    purchases         UInt32,
    revenue           Decimal(18, 4),
    first_event_id    String,
    first_seen        DateTime64(3, 'UTC'),
    first_channel     LowCardinality(String),
    last_event_id     String,
    last_seen         DateTime64(3, 'UTC'),
    last_channel      LowCardinality(String),
    _topic            LowCardinality(String),
    _partition        UInt32,
    _offset           Int64,
    _inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
-- Not partitioned by time: a late touchpoint can move first_seen, and FINAL only merges
-- versions within one partition.
ORDER BY customer_id
SETTINGS non_replicated_deduplication_window = 1000;
