-- The headline questions over a date range, as parameterised views: every range is
-- [since, until) in UTC, a dimension given as '' means every value. docs/analysts.md shows
-- each with its parameters, e.g.
--   SELECT * FROM stage_funnel_between(since = '2026-03-02', until = '2026-03-09',
--                                      channel = '', campaign = '', segment = '')
-- or with `journeys query -p since=2026-03-02 ...` and {since:String} placeholders.

-- Customers entering each stage in the range (moved there by a touchpoint of the given
-- channel, campaign and segment), and the share of the previous stage's figure.
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
      AND ({channel:String} = '' OR channel = {channel:String})
      AND ({campaign:String} = '' OR ifNull(campaign, '') = {campaign:String})
      AND ({segment:String} = '' OR ifNull(segment, '') = {segment:String})
    GROUP BY to_stage
) AS r ON r.stage = m.stage
ORDER BY rank;

-- Drop-off per stage and window (of `window_size` seconds) that starts in the range, for
-- everyone (dimension 'all') or one channel, campaign or segment (`value` '' for each).
CREATE OR REPLACE VIEW dropoff_between AS
SELECT window_start, dimension, value, stage, passed, dropped_off, dropoff_rate
FROM conversion_counts
WHERE window_size_seconds = {window_size:UInt32}
  AND window_start >= {since:DateTime64(3)} AND window_start < {until:DateTime64(3)}
  AND dimension = {dimension:String}
  AND ({value:String} = '' OR value = {value:String})
ORDER BY window_start, dimension, value, stage;

-- How long moving on from one stage to the next took, for moves made in the range: the
-- distribution in hours, not only its middle.
CREATE OR REPLACE VIEW time_to_convert_between AS
SELECT
    from_stage,
    to_stage,
    count() AS customers,
    round(quantileExact(0.1)(seconds_since_previous) / 3600, 2) AS p10_hours,
    round(quantileExact(0.25)(seconds_since_previous) / 3600, 2) AS p25_hours,
    round(quantileExact(0.5)(seconds_since_previous) / 3600, 2) AS median_hours,
    round(quantileExact(0.75)(seconds_since_previous) / 3600, 2) AS p75_hours,
    round(quantileExact(0.9)(seconds_since_previous) / 3600, 2) AS p90_hours,
    round(max(seconds_since_previous) / 3600, 2) AS max_hours
FROM v_transitions
WHERE kind = 'advanced'
  AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
GROUP BY from_stage, to_stage
ORDER BY from_stage, to_stage;

-- The most common channel paths of the range's touchpoints (repeats folded, first
-- twelve steps), human traffic only.
CREATE OR REPLACE VIEW top_paths_between AS
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
      AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
    GROUP BY customer_id
)
GROUP BY path
ORDER BY customers DESC, path;

-- Where customers went after a session that ended in the range with a drop-off at
-- `stage`: the entry channel of their next session, or '(no later session)'. The counts
-- add up to that stage's drop-offs in the range.
CREATE OR REPLACE VIEW paths_after_dropoff AS
SELECT next, count() AS sessions
FROM
(
    SELECT
        d.session_id AS session_id,
        arrayFirst(later -> later.1 > d.started_at, c.sessions) AS following,
        if(following.1 > d.started_at, toString(following.2), '(no later session)') AS next
    FROM
    (
        SELECT customer_id, session_id, started_at
        FROM v_sessions
        WHERE status = 'closed' AND dropped_off_at = {stage:String}
          AND ended_at >= {since:DateTime64(3)} AND ended_at < {until:DateTime64(3)}
    ) AS d
    INNER JOIN
    (
        SELECT customer_id, arraySort(groupArray((started_at, entry_channel))) AS sessions
        FROM v_sessions
        WHERE status != 'withdrawn'
        GROUP BY customer_id
    ) AS c ON c.customer_id = d.customer_id
)
GROUP BY next
ORDER BY sessions DESC, next;

-- Weekly cohorts: customers by the week (Monday) of their first touchpoint in the range,
-- and how many of them were active again 0, 1, 2, ... weeks later (within the range).
CREATE OR REPLACE VIEW weekly_retention AS
WITH activity AS
(
    SELECT customer_id, toMonday(event_time) AS week
    FROM v_touchpoints
    WHERE NOT is_bot
      AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
    GROUP BY customer_id, week
),
cohorts AS (SELECT customer_id, min(week) AS cohort FROM activity GROUP BY customer_id)
SELECT
    c.cohort AS cohort_week,
    intDiv(dateDiff('day', c.cohort, a.week), 7) AS weeks_later,
    uniqExact(a.customer_id) AS customers,
    any(s.size) AS cohort_size,
    round(customers / cohort_size, 4) AS retained
FROM activity AS a
INNER JOIN cohorts AS c ON c.customer_id = a.customer_id
INNER JOIN (SELECT cohort, count() AS size FROM cohorts GROUP BY cohort) AS s
    ON s.cohort = c.cohort
GROUP BY cohort_week, weeks_later
ORDER BY cohort_week, weeks_later;
