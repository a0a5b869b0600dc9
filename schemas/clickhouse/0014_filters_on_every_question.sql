-- Every question over a date range takes the journey map's dimension filters too:
-- `channel`, `campaign` and `segment` pick the customers acquired through them
-- (acquired_customers, 0013), '' meaning all. These replace the views of 0009-0012 with
-- the same answers when all three are ''; dropoff_between keeps its own `dimension`, and
-- stage_funnel_between has them since 0013.

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
  AND customer_id IN (SELECT customer_id FROM acquired_customers(
      channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
GROUP BY from_stage, to_stage
ORDER BY from_stage, to_stage;

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
      AND customer_id IN (SELECT customer_id FROM acquired_customers(
          channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
    GROUP BY customer_id
)
GROUP BY path
ORDER BY customers DESC, path;

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
          AND customer_id IN (SELECT customer_id FROM acquired_customers(
              channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
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

CREATE OR REPLACE VIEW weekly_retention AS
WITH activity AS
(
    SELECT customer_id, toMonday(event_time) AS week
    FROM v_touchpoints
    WHERE NOT is_bot
      AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
      AND customer_id IN (SELECT customer_id FROM acquired_customers(
          channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
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

CREATE OR REPLACE VIEW step_funnel AS
WITH {steps:Array(String)} AS wanted
SELECT
    step,
    wanted[step] AS action,
    arrayCount(level -> level >= step, levels) AS customers,
    round(customers / nullIf(arrayCount(level -> level >= 1, levels), 0), 4)
        AS conversion_from_first
FROM
(
    SELECT groupArray(reached) AS levels  -- one row, even for a range without touchpoints
    FROM
    (
        SELECT
            customer_id,
            windowFunnel({window_seconds:UInt32})(toDateTime(event_time),
                action = wanted[1], action = wanted[2], action = wanted[3],
                action = wanted[4], action = wanted[5], action = wanted[6]) AS reached
        FROM v_touchpoints
        WHERE NOT is_bot
          AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
          AND customer_id IN (SELECT customer_id FROM acquired_customers(
              channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
        GROUP BY customer_id
    )
)
ARRAY JOIN arrayEnumerate(wanted) AS step
WHERE throwIf(length(wanted) > 6, 'step_funnel takes at most six steps') = 0
ORDER BY step;

CREATE OR REPLACE VIEW lifecycle AS
WITH {grain:String} AS grain, if(grain = 'day', 1, 7) AS step_days
SELECT period, status, count() AS customers
FROM
(
    SELECT
        customer_id,
        arraySort(groupUniqArray(
            if(grain = 'day', toDate(event_time), toMonday(event_time))
        )) AS active
    FROM v_touchpoints
    WHERE NOT is_bot
      AND event_time >= {since:DateTime64(3)} AND event_time < {until:DateTime64(3)}
      AND throwIf(grain NOT IN ('day', 'week'), 'grain is day or week') = 0
      AND customer_id IN (SELECT customer_id FROM acquired_customers(
          channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
    GROUP BY customer_id
)
ARRAY JOIN
    arrayConcat(
        arrayMap((p, i) -> (p, multiIf(i = 1, 'new',
                                       active[i - 1] = p - step_days, 'returning',
                                       'resurrecting')),
                 active, arrayEnumerate(active)),
        arrayMap(p -> (p + step_days, 'dormant'),
                 arrayFilter(p -> NOT has(active, p + step_days)
                                  AND p + step_days < toDate({until:DateTime64(3)}), active))
    ) AS entry
GROUP BY entry.1 AS period, entry.2 AS status
ORDER BY period, status;

CREATE OR REPLACE VIEW paths_to_conversion AS
SELECT path, count() AS customers
FROM
(
    SELECT
        customer_id,
        arraySort(groupArray((started_at, session_id, toString(entry_channel), converted)))
            AS walked,
        arrayFirstIndex(s -> s.4, walked) AS first_converting,
        arrayStringConcat(
            arraySlice(arrayCompact(arrayMap(s -> s.3, arraySlice(walked, 1, first_converting))),
                       -12),
            ' > ') AS path
    FROM v_sessions
    WHERE status NOT IN ('provisional', 'withdrawn')
      AND customer_id IN (SELECT customer_id FROM acquired_customers(
          channel = {channel:String}, campaign = {campaign:String}, segment = {segment:String}))
    GROUP BY customer_id
    HAVING first_converting > 0
       AND walked[first_converting].1 >= {since:DateTime64(3)}
       AND walked[first_converting].1 < {until:DateTime64(3)}
)
GROUP BY path
ORDER BY customers DESC, path;
