-- An explanation with every alert (docs/alerting.md): each contributor's share of its
-- dimension's lost conversions and of its sessions, beside `contributors` (same order).
ALTER TABLE alerts
    ADD COLUMN IF NOT EXISTS contributor_shares
        Array(Tuple(share Float64, sessions_share Float64)) AFTER contributors;

-- One row per alert and contributor, most telling first (`rank` 1): the dimension values
-- that lost the most conversions beyond their share of the sessions.
CREATE OR REPLACE VIEW alert_explanations AS
SELECT
    alert_id,
    status,
    stage,
    next_stage,
    window_size_seconds,
    window_start,
    rank,
    c.dimension AS dimension,
    c.value AS value,
    c.sessions AS sessions,
    c.dropped AS dropped,
    c.rate AS rate,
    c.excess AS lost_conversions,
    s.share AS share_of_lost,
    s.sessions_share AS share_of_sessions
FROM alerts FINAL
ARRAY JOIN contributors AS c, contributor_shares AS s, arrayEnumerate(contributors) AS rank
WHERE status = 'firing';
