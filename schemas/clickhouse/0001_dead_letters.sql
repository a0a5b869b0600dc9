-- Every record the pipeline could not decode, validate or store, with the reason, so that
-- nothing is lost silently and a fixed record can be replayed (`journeys dlq replay`).
-- Raw payloads stay here only; nothing downstream of the normalisers sees them.
CREATE TABLE IF NOT EXISTS dead_letters
(
    source_topic     LowCardinality(String),
    source_partition Int32,            -- -1 when the failing record named none
    source_offset    Int64,
    error_type       LowCardinality(String),
    error_message    String,
    failed_at        DateTime64(3, 'UTC'),
    replay_count     UInt16,
    raw_key          String,            -- bytes as sent (String holds arbitrary bytes)
    raw_value        String,
    -- Where this row was read from (the dead-letter topic): the sink's idempotency
    -- watermark and the analyst's pointer back into Kafka.
    _topic           LowCardinality(String),
    _partition       UInt32,
    _offset          Int64,
    _inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
-- Analysts ask "what failed on topic X lately, and why": topic first, then time.
ORDER BY (source_topic, failed_at, source_partition, source_offset)
TTL toDateTime(failed_at) + INTERVAL ${retention_days} DAY
-- Plain MergeTree only deduplicates retried inserts (same insert_deduplication_token)
-- within this many recent blocks.
SETTINGS non_replicated_deduplication_window = 1000;
