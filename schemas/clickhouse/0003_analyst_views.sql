-- The analyst's views. docs/analysts.md shows each with an example query.
-- Views are replaced, not altered: a later migration may CREATE OR REPLACE one.

-- The stage model the workers run (written by each worker at start-up), so views can
-- order stages and find the previous one.
CREATE TABLE IF NOT EXISTS stage_model
(
    model  LowCardinality(String),
    stage  LowCardinality(String),
    rank   UInt8
)
ENGINE = ReplacingMergeTree
ORDER BY rank;

-- Current state of each table: one row per fact, the latest version of each session and
-- journey, no bookkeeping columns.
CREATE OR REPLACE VIEW v_touchpoints AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at) FROM touchpoints FINAL;

CREATE OR REPLACE VIEW v_sessions AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at) FROM sessions FINAL;

CREATE OR REPLACE VIEW v_transitions AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at) FROM stage_transitions FINAL;

CREATE OR REPLACE VIEW v_journeys AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at) FROM journeys FINAL;

-- Customers who ever reached each stage, and the share of the previous stage's.
CREATE OR REPLACE VIEW funnel_by_stage AS
SELECT
    m.rank AS rank,
    m.stage AS stage,
    r.customers AS customers,
    round(r.customers / nullIf(lagInFrame(r.customers, 1) OVER (
        ORDER BY m.rank ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), 0), 4)
        AS conversion_from_previous
FROM (SELECT stage, rank FROM stage_model FINAL) AS m
LEFT JOIN
(
    SELECT stage, count() AS customers
    FROM v_journeys ARRAY JOIN mapKeys(first_reached) AS stage
    GROUP BY stage
) AS r ON r.stage = m.stage
ORDER BY rank;

-- Customers entering each stage, by the channel, campaign and segment of the touchpoint
-- that moved them there ('all' for everyone).
CREATE OR REPLACE VIEW funnel_by_dimension AS
SELECT
    dimension_value.1 AS dimension,
    dimension_value.2 AS value,
    to_stage AS stage,
    uniqExact(customer_id) AS customers
FROM v_transitions
ARRAY JOIN [
    ('all', 'all'),
    ('channel', channel),
    ('campaign', ifNull(campaign, '(none)')),
    ('segment', ifNull(segment, '(none)'))
] AS dimension_value
WHERE kind IN ('entered', 'advanced')
GROUP BY dimension, value, stage;

-- Drop-off per stage: of the closed sessions in which customers were at a stage, how many
-- moved on from it (or bought there) and how many ended there without buying.
CREATE OR REPLACE VIEW dropoff_by_stage AS
SELECT
    m.rank AS rank,
    m.stage AS stage,
    p.passed_sessions + d.dropped_off AS sessions,
    d.dropped_off AS dropped_off,
    round(d.dropped_off / nullIf(p.passed_sessions + d.dropped_off, 0), 4) AS dropoff_rate
FROM (SELECT stage, rank FROM stage_model FINAL) AS m
LEFT JOIN
(
    SELECT stage, count() AS passed_sessions
    FROM v_sessions ARRAY JOIN passed AS stage
    WHERE status = 'closed'
    GROUP BY stage
) AS p ON p.stage = m.stage
LEFT JOIN
(
    SELECT assumeNotNull(dropped_off_at) AS stage, count() AS dropped_off
    FROM v_sessions WHERE status = 'closed' AND dropped_off_at IS NOT NULL GROUP BY stage
) AS d ON d.stage = m.stage
ORDER BY rank;

-- How long customers take from first reaching one stage to first reaching a later one.
CREATE OR REPLACE VIEW time_to_convert AS
SELECT
    from_stage,
    to_stage,
    count() AS customers,
    round(avg(seconds_since_previous) / 3600, 2) AS avg_hours,
    round(quantileExact(0.5)(seconds_since_previous) / 3600, 2) AS median_hours,
    round(quantileExact(0.9)(seconds_since_previous) / 3600, 2) AS p90_hours
FROM v_transitions
WHERE kind = 'advanced'
GROUP BY from_stage, to_stage;

-- The most common channel paths (repeats folded, first twelve steps), human traffic only.
CREATE OR REPLACE VIEW top_paths AS
SELECT path, count() AS customers
FROM
(
    SELECT
        customer_id,
        arrayStringConcat(
            arraySlice(arrayCompact(arrayMap(step -> step.3,
                arraySort(step -> (step.1, step.2), groupArray((event_time, event_id, channel))))),
                1, 12),
            ' > ') AS path
    FROM v_touchpoints
    WHERE NOT is_bot
    GROUP BY customer_id
)
GROUP BY path
ORDER BY customers DESC, path;

-- Clicks over impressions per channel and campaign: ad clicks / impressions, email and
-- SMS clicks / deliveries, push opens / sends, popup submissions / showings.
CREATE OR REPLACE VIEW click_through AS
SELECT
    channel,
    coalesce(campaign_id, campaign_name, '(none)') AS campaign,
    countIf(action IN ('ad_impression', 'email_delivered', 'sms_delivered', 'push_sent',
                       'popup_shown')) AS impressions,
    countIf(action IN ('ad_click', 'email_clicked', 'sms_clicked', 'push_opened',
                       'popup_submitted')) AS clicks,
    round(clicks / nullIf(impressions, 0), 4) AS click_through_rate
FROM v_touchpoints
WHERE NOT is_bot AND channel IN ('ads', 'email', 'sms', 'push', 'popup')
GROUP BY channel, campaign;

-- Ratings, NPS and CSAT answers and their sentiment (-1..1), by the stage the customer was
-- in at the end of the session where they gave them. Scores keep their own scale, so
-- they are averaged per action; sentiment is comparable across all of them.
CREATE OR REPLACE VIEW satisfaction_by_stage AS
SELECT
    s.stage_at_end AS stage,
    t.action AS action,
    count() AS responses,
    round(avg(t.score), 2) AS avg_score,
    round(avg(t.sentiment), 3) AS avg_sentiment
FROM v_touchpoints AS t
INNER JOIN v_sessions AS s ON s.session_id = assumeNotNull(t.session_id)
WHERE t.score IS NOT NULL OR t.sentiment IS NOT NULL
GROUP BY stage, action;

-- Sessions that put something in the cart (or started checkout) without buying, per day.
CREATE OR REPLACE VIEW cart_abandonment AS
SELECT
    day,
    count() AS cart_sessions,
    countIf(NOT purchased) AS abandoned,
    round(abandoned / cart_sessions, 4) AS abandonment_rate
FROM
(
    SELECT
        session_id,
        toDate(min(event_time)) AS day,
        countIf(action IN ('add_to_cart', 'checkout_started')) > 0 AS carted,
        countIf(action IN ('order_placed', 'store_purchase')) > 0 AS purchased
    FROM v_touchpoints
    WHERE session_id IS NOT NULL
    GROUP BY session_id
)
WHERE carted
GROUP BY day
ORDER BY day;

-- One customer's journey as a timeline:
--   SELECT * FROM customer_timeline(customer = 'user:u-1042')
CREATE OR REPLACE VIEW customer_timeline AS
SELECT
    event_time, sequence, channel, action, stage, session_id, platform,
    coalesce(campaign_name, campaign_id) AS campaign, revenue, currency, score, is_late
FROM v_touchpoints
WHERE customer_id = {customer:String}
ORDER BY event_time, sequence;
