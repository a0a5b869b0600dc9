-- Markov attribution (docs/analysts.md, "Attribution"): per day, each channel's removal
-- effect in the first-order chain of the visits of the lookback before that day's end,
-- and the conversions credited by it; recomputed by the worker once the day is final.
CREATE TABLE IF NOT EXISTS markov_attribution
(
    day                     Date,
    lookback_days           UInt16,
    channel                 LowCardinality(String),
    removal_effect          Float64,
    conversions             Float64,    -- of the paths' conversions, credited to it
    paths                   UInt64,     -- the paths the chain was built from
    path_conversions        UInt64,     -- ... of which converted
    conversion_probability  Float64,
    computed_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (day, lookback_days, channel);

-- The paths of the visits that started in [since, until): per customer, the channels
-- their visits came in by, in order, cut after each visit with a purchase (converted 1);
-- visits after a customer's last purchase make a path that did not convert.
CREATE OR REPLACE VIEW markov_paths AS
SELECT customer_id, arrayMap(v -> v.2, part) AS path, part[-1].3 AS converted
FROM
(
    SELECT
        customer_id,
        arraySort(v -> v.1, groupArray((started_at, entry_channel, converted))) AS visits,
        arraySplit(
            (v, cut) -> cut,
            visits,
            arrayPushFront(arrayPopBack(arrayMap(v -> v.3, visits)), false)
        ) AS parts
    FROM v_sessions
    WHERE status = 'closed'
      AND started_at >= {since:DateTime64(3)} AND started_at < {until:DateTime64(3)}
    GROUP BY customer_id
)
ARRAY JOIN parts AS part;
