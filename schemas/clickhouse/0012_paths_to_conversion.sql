-- The paths to a first purchase: for each customer whose first converting session (a
-- session with a purchase) started in [since, until), the entry channels of their
-- sessions up to and including it, repeats folded, the last twelve; with how many
-- customers took each path. The counts add up to the customers who first bought in the
-- range.
--   SELECT * FROM paths_to_conversion(since = '2026-03-01', until = '2026-04-01')
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
    GROUP BY customer_id
    HAVING first_converting > 0
       AND walked[first_converting].1 >= {since:DateTime64(3)}
       AND walked[first_converting].1 < {until:DateTime64(3)}
)
GROUP BY path
ORDER BY customers DESC, path;
