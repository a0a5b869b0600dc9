-- Customers' lifecycle per week (Monday) or day of [since, until): `new` (first active
-- then, as far as the range shows), `returning` (active then and the period before),
-- `resurrecting` (active then, not the period before, but earlier in the range) and
-- `dormant` (active the period before, not then). `grain` is 'week' or 'day'.
--   SELECT * FROM lifecycle(since = '2026-03-02', until = '2026-04-06', grain = 'week')
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
