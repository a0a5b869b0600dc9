-- A funnel over any steps: of the customers whose touchpoints in [since, until) include
-- the first action, how many went on to the second, third, ... in that order, each within
-- `window_seconds` of their first step (ClickHouse's windowFunnel; it needs the time as
-- DateTime, hence toDateTime). Up to six steps, e.g.
--   SELECT * FROM step_funnel(since = '2026-03-01', until = '2026-04-01',
--                             steps = ['product_view', 'add_to_cart', 'order_placed'],
--                             window_seconds = 604800)
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
        GROUP BY customer_id
    )
)
ARRAY JOIN arrayEnumerate(wanted) AS step
WHERE throwIf(length(wanted) > 6, 'step_funnel takes at most six steps') = 0
ORDER BY step;
