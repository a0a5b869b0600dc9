-- Touchpoint rows keyed by the event, and versioned: a live touchpoint's provisional row
-- (written at arrival, `_version` 0 or 1) and its final row (`_version` 2, at release)
-- are one row in FINAL even when an identity merge moved the touchpoint to another
-- customer in between. Sorted by event time (most questions are about a period); the
-- bloom filter serves questions about one customer.
--
-- The table is rebuilt: a new one filled from the old, then swapped in by name (the
-- migration runner resumes a cut-short run after its last completed statement, so the
-- rename runs once).

CREATE TABLE IF NOT EXISTS touchpoints_by_event
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
    _inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    -- 0: at arrival, not yet placed in a session; 1: provisional; 2: final
    _version          UInt8 DEFAULT 2,
    INDEX by_customer customer_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(_version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id)
TTL toDateTime(event_time) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

INSERT INTO touchpoints_by_event SELECT *, 2 AS _version FROM touchpoints;

RENAME TABLE touchpoints TO touchpoints_before_0006, touchpoints_by_event TO touchpoints;

DROP TABLE IF EXISTS touchpoints_before_0006;

-- The view of 0005, without the new bookkeeping column.
CREATE OR REPLACE VIEW v_touchpoints AS
SELECT t.* EXCEPT (_topic, _partition, _offset, _inserted_at, _version)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), t.customer_id) AS customer_id)
FROM touchpoints AS t FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = t.customer_id;
