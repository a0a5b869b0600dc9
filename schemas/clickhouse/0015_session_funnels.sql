-- Session funnels beside journey stages (docs/analysts.md, "Funnels"). A stage model may
-- declare funnel steps, counted per session: each session records the steps it reached,
-- in order, and the one it stopped at short of the funnel's end. conversion_partials
-- counts them as it counts stages (a step's name in the stage column, passed and
-- dropped_off), and the detector watches them as it watches stages.

ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS funnel_reached Array(LowCardinality(String)) AFTER is_late,
    ADD COLUMN IF NOT EXISTS funnel_dropped_at LowCardinality(Nullable(String))
        AFTER funnel_reached;

-- A view keeps the columns its table had when it was made: v_sessions again, as 0007
-- made it, to show the new ones.
CREATE OR REPLACE VIEW v_sessions AS
SELECT s.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), s.customer_id) AS customer_id)
FROM sessions AS s FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = s.customer_id
WHERE s.status != 'withdrawn';

-- The funnel the workers run (written by each worker at start-up, with stage_model).
CREATE TABLE IF NOT EXISTS funnel_model
(
    model  LowCardinality(String),
    step   LowCardinality(String),
    rank   UInt8
)
ENGINE = ReplacingMergeTree
ORDER BY rank;

-- Per window and dimension value, each funnel step: the sessions that reached it, those
-- that went on to the next step, those that stopped there, and the share that stopped.
CREATE OR REPLACE VIEW funnel_counts AS
SELECT
    c.window_size_seconds AS window_size_seconds,
    c.window_start AS window_start,
    c.window_end AS window_end,
    c.dimension AS dimension,
    c.value AS value,
    m.rank AS rank,
    c.stage AS step,
    c.passed + c.dropped_off AS reached,
    c.passed AS passed,
    c.dropped_off AS dropped_off,
    c.dropoff_rate AS dropoff_rate
FROM conversion_counts AS c
INNER JOIN (SELECT step, rank FROM funnel_model FINAL) AS m ON m.step = c.stage;

-- The funnel over sessions that started in the range, for everyone or one channel,
-- campaign or segment ('' for all): sessions reaching each step, and the share of the
-- step before them that went on.
CREATE OR REPLACE VIEW funnel_between AS
SELECT
    m.rank AS rank,
    m.step AS step,
    countIf(has(s.funnel_reached, m.step)) AS sessions,
    round(sessions / nullIf(any(s.total), 0), 4) AS share_of_sessions
FROM (SELECT step, rank FROM funnel_model FINAL) AS m
CROSS JOIN (
    SELECT funnel_reached, count() OVER () AS total
    FROM v_sessions
    WHERE status = 'closed'
      AND started_at >= {since:DateTime64(3)} AND started_at < {until:DateTime64(3)}
      AND ({channel:String} = '' OR entry_channel = {channel:String})
      AND ({campaign:String} = '' OR ifNull(entry_campaign, '') = {campaign:String})
      AND ({segment:String} = '' OR ifNull(segment, '') = {segment:String})
) AS s
GROUP BY m.rank, m.step
ORDER BY m.rank;
