-- The journey map's step watch: per stage and funnel step, its windows of the smallest
-- size that started in [since, until): how many, their sessions and drop-offs, the rate
-- over the range, the latest window's rate and baseline, how many windows were anomalous
-- and how many alert episodes they belong to, and every window's rate and baseline in
-- time order (`rates`, `baselines`: the map's sparkline). Stages first, in the stage
-- model's order, then funnel steps in the funnel's.
CREATE OR REPLACE VIEW step_watch_between AS
SELECT
    w.stage AS stage,
    any(w.next_stage) AS next_stage,
    any(w.window_size_seconds) AS window_size_seconds,
    count() AS windows,
    sum(w.sessions) AS sessions,
    sum(w.dropped) AS dropped,
    round(dropped / nullIf(sessions, 0), 4) AS dropoff_rate,
    max(w.window_start) AS latest_window,
    argMax(w.observed_rate, w.window_start) AS latest_rate,
    argMax(w.baseline_rate, w.window_start) AS latest_baseline,
    countIf(w.anomalous) AS anomalous_windows,
    uniqExactIf(w.episode, w.episode != '') AS episodes,
    arrayMap(p -> p.2, arraySort(p -> p.1, groupArray((w.window_start, w.observed_rate))))
        AS rates,
    arrayMap(p -> p.2, arraySort(p -> p.1, groupArray((w.window_start, w.baseline_rate))))
        AS baselines
FROM step_watch AS w
LEFT JOIN (SELECT stage, rank FROM stage_model FINAL) AS s ON s.stage = w.stage
LEFT JOIN (SELECT step, rank FROM funnel_model FINAL) AS f ON f.step = w.stage
WHERE w.window_size_seconds = (SELECT min(window_size_seconds) FROM step_windows)
  AND w.window_start >= {since:DateTime64(3)} AND w.window_start < {until:DateTime64(3)}
GROUP BY w.stage
ORDER BY min(if(s.stage != '', s.rank, 100 + if(f.step != '', f.rank, 100))), w.stage;
