-- `journeys forget`: what the workers forgot and when. A hash of each identifier key or
-- customer id (pipeline.journeys.forgetting.fingerprint), never the value: the log of a
-- deletion names no one, yet answers "was this person forgotten?".
CREATE TABLE IF NOT EXISTS forgotten
(
    fingerprint   String,
    kind          LowCardinality(String),       -- identifier | customer
    forgotten_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (fingerprint, forgotten_at);
