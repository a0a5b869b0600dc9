-- How the drop-off detector judged every final window of every stage and funnel step:
-- the rate, the baseline it was held against, the evidence for a rise, and the episode
-- (alert_id) open after it. One row per step and window; a redelivered one replaces it.
CREATE TABLE IF NOT EXISTS step_windows
(
    stage               LowCardinality(String),
    next_stage          LowCardinality(Nullable(String)),
    window_size_seconds UInt32,
    window_start        DateTime64(3, 'UTC'),
    window_end          DateTime64(3, 'UTC'),
    sessions            UInt64,
    dropped             UInt64,
    observed_rate       Float64,
    baseline_rate       Nullable(Float64),
    evidence            Float64,
    anomalous           Bool,
    alert_id            Nullable(String),
    _topic              LowCardinality(String),
    _partition          UInt32,
    _offset             Int64,
    _inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_size_seconds, stage, window_start)
TTL toDateTime(window_start) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Each step's rate window by window, its baseline and its alert episodes in one place:
-- `episode` is the alert that covers the window ('' when none), `fired` / `resolved` mark
-- the windows where it started and ended. Read one window size and step at a time.
CREATE OR REPLACE VIEW step_watch AS
SELECT
    w.window_size_seconds AS window_size_seconds,
    w.stage AS stage,
    w.next_stage AS next_stage,
    w.window_start AS window_start,
    w.sessions AS sessions,
    w.dropped AS dropped,
    w.observed_rate AS observed_rate,
    w.baseline_rate AS baseline_rate,
    w.evidence AS evidence,
    w.anomalous AS anomalous,
    if(a.alert_id != '', a.alert_id, ifNull(w.alert_id, '')) AS episode,
    a.status = 'firing' AS fired,
    a.status = 'resolved' AS resolved
FROM step_windows AS w FINAL
LEFT JOIN (
    SELECT alert_id, status, stage, window_size_seconds, window_start FROM alerts FINAL
) AS a
    ON a.stage = w.stage AND a.window_size_seconds = w.window_size_seconds
    AND a.window_start = w.window_start;
