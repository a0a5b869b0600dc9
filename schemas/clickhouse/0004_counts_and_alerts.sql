-- Conversion counts and drop-off alerts (issue: counts per window, spike alerts).

-- Each engine partition's counts per window; the highest version of a window is final.
-- conversion_counts sums the partitions.
CREATE TABLE IF NOT EXISTS conversion_partials
(
    window_size_seconds UInt32,
    window_start        DateTime64(3, 'UTC'),
    partition           UInt16,
    dimension           LowCardinality(String),    -- all | channel | campaign | segment
    value               String,
    stage               LowCardinality(String),
    metric              LowCardinality(String),    -- entered | passed | dropped_off
    count               UInt64,
    version             UInt32,
    _topic              LowCardinality(String),
    _partition          UInt32,
    _offset             Int64,
    _inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
-- Analysts read one window size over a time range, per dimension.
ORDER BY (window_size_seconds, window_start, dimension, value, stage, metric, partition)
TTL toDateTime(window_start) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE OR REPLACE VIEW conversion_counts AS
SELECT
    window_size_seconds,
    window_start,
    window_start + toIntervalSecond(window_size_seconds) AS window_end,
    dimension,
    value,
    stage,
    sumIf(count, metric = 'entered') AS entered,
    sumIf(count, metric = 'passed') AS passed,
    sumIf(count, metric = 'dropped_off') AS dropped_off,
    round(dropped_off / nullIf(passed + dropped_off, 0), 4) AS dropoff_rate
FROM conversion_partials FINAL
GROUP BY window_size_seconds, window_start, dimension, value, stage;

-- Drop-off spike alerts: one row when an episode fires, one when it resolves.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id            String,
    status              LowCardinality(String),    -- firing | resolved
    stage               LowCardinality(String),
    next_stage          LowCardinality(Nullable(String)),
    window_size_seconds UInt32,
    window_start        DateTime64(3, 'UTC'),
    window_end          DateTime64(3, 'UTC'),
    episode_started_at  DateTime64(3, 'UTC'),
    observed_rate       Float64,
    baseline_rate       Float64,
    sessions            UInt64,
    dropped             UInt64,
    z_score             Nullable(Float64),
    p_value             Nullable(Float64),
    severity            LowCardinality(String),
    contributors        Array(Tuple(dimension String, value String, dropped UInt64,
                                    sessions UInt64, rate Float64, excess Float64)),
    _topic              LowCardinality(String),
    _partition          UInt32,
    _offset             Int64,
    _inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (stage, alert_id, status)
SETTINGS non_replicated_deduplication_window = 1000;
