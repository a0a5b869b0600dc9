-- What the journey map (the worker's page /map/, pipeline/journey_map) shows, as
-- parameterised views an analyst can ask too: every range is [since, until) in UTC. The
-- channel, campaign and segment filters pick customers by how they were acquired
-- (customer_acquisition), '' meaning all, so a filtered funnel and flow diagram follow one
-- group of customers through every stage.

-- How each customer came: the entry channel and campaign of their first session, and
-- the first segment any of their sessions carries.
CREATE OR REPLACE VIEW customer_acquisition AS
SELECT
    customer_id,
    min(started_at) AS first_seen,
    argMin(entry_channel, (started_at, session_id)) AS channel,
    -- (a tuple: argMin would skip a first session without a campaign)
    argMin(tuple(entry_campaign), (started_at, session_id)).1 AS campaign,
    argMinIf(segment, (started_at, session_id), segment IS NOT NULL) AS segment
FROM v_sessions
GROUP BY customer_id;

-- The customers acquired through a channel, campaign and segment ('' for any).
CREATE OR REPLACE VIEW acquired_customers AS
SELECT customer_id
FROM customer_acquisition
WHERE ({channel:String} = '' OR channel = {channel:String})
  AND ({campaign:String} = '' OR ifNull(campaign, '') = {campaign:String})
  AND ({segment:String} = '' OR ifNull(segment, '') = {segment:String});

-- Stage funnel, replacing 0009's: customers entering each stage in the range among those
-- acquired through the given channel, campaign and segment, and the share of the
-- previous stage's figure.
CREATE OR REPLACE VIEW stage_funnel_between AS
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
    SELECT to_stage AS stage, uniqExact(customer_id) AS customers
    FROM v_transitions
    WHERE kind IN ('entered', 'advanced')
      AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
      AND customer_id IN (SELECT customer_id FROM acquired_customers(
          channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
    GROUP BY to_stage
) AS r ON r.stage = m.stage
ORDER BY rank;

-- Customers moving between stages in the range: from '(first touch)' into the first stage
-- they reached, from one stage to a later one, and from a stage to '(dropped off)' (a
-- session that ended there without a purchase).
CREATE OR REPLACE VIEW stage_flows_between AS
SELECT
    multiIf(kind = 'entered', '(first touch)', assumeNotNull(from_stage)) AS source,
    if(kind = 'dropped_off', '(dropped off)', toString(to_stage)) AS target,
    uniqExact(customer_id) AS customers
FROM v_transitions
WHERE event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
  AND customer_id IN (SELECT customer_id FROM acquired_customers(
      channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
GROUP BY source, target
ORDER BY source, target;

-- Drop-off per stage over the sessions that ended in the range: sessions that held the
-- stage and moved on from it or converted (`passed`), that ended there without a purchase
-- (`dropped_off`), and the rate, as conversion_counts counts them per window.
CREATE OR REPLACE VIEW stage_dropoff_between AS
SELECT
    m.rank AS rank,
    m.stage AS stage,
    ifNull(s.passed, 0) AS passed,
    ifNull(s.dropped_off, 0) AS dropped_off,
    round(dropped_off / nullIf(passed + dropped_off, 0), 4) AS dropoff_rate
FROM (SELECT stage, rank FROM stage_model FINAL) AS m
LEFT JOIN
(
    SELECT
        outcome.1 AS stage,
        countIf(outcome.2 = 'passed') AS passed,
        countIf(outcome.2 = 'dropped_off') AS dropped_off
    FROM
    (
        -- one row per stage a session passed, and one where it dropped off
        SELECT arrayJoin(arrayConcat(
            arrayMap(held -> (toString(held), 'passed'), passed),
            if(dropped_off_at IS NULL, [], [(toString(dropped_off_at), 'dropped_off')])
        )) AS outcome
        FROM v_sessions
        WHERE status = 'closed'
          AND ended_at >= {since:DateTime64(3)} AND ended_at < {until:DateTime64(3)}
          AND customer_id IN (SELECT customer_id FROM acquired_customers(
              channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
    )
    GROUP BY stage
) AS s ON s.stage = m.stage
ORDER BY rank;

-- Drop-off alert episodes that were firing at some time in the range: when the first
-- window that fired started, when the window that resolved it ended (NULL while it
-- fires), and the firing window's figures.
CREATE OR REPLACE VIEW alerts_between AS
SELECT
    alert_id,
    stage,
    anyIf(next_stage, status = 'firing') AS next_stage,
    any(window_size_seconds) AS window_size_seconds,
    minIf(window_start, status = 'firing') AS fired_at,
    maxIf(toNullable(window_end), status = 'resolved') AS resolved_at,
    anyIf(severity, status = 'firing') AS severity,
    anyIf(observed_rate, status = 'firing') AS observed_rate,
    anyIf(baseline_rate, status = 'firing') AS baseline_rate,
    anyIf(sessions, status = 'firing') AS sessions
FROM alerts FINAL
GROUP BY alert_id, stage
HAVING countIf(status = 'firing') > 0
   AND fired_at < {until:DateTime64(3)}
   AND (resolved_at IS NULL OR resolved_at > {since:DateTime64(3)})
ORDER BY fired_at, stage, alert_id;

-- The acquisition channels, campaigns and segments of the customers who moved in the
-- range, with how many of them each has: the choices the map's filters offer.
CREATE OR REPLACE VIEW dimension_values_between AS
SELECT pair.1 AS dimension, pair.2 AS value, uniqExact(a.customer_id) AS customers
FROM customer_acquisition AS a
ARRAY JOIN [
    ('channel', toString(a.channel)),
    ('campaign', ifNull(a.campaign, '')),
    ('segment', toString(ifNull(a.segment, '')))
] AS pair
WHERE pair.2 != ''
  AND a.customer_id IN (
      SELECT customer_id FROM v_transitions
      WHERE event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)})
GROUP BY dimension, value
ORDER BY dimension, customers DESC, value;
