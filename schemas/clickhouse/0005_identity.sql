-- Identity stitching (docs/identity.md): which customer each identifier belongs to, which
-- customers turned out to be one, which links the guard rails refused; and the views of
-- 0003 again, now reading every customer id through the merges.

-- Every identifier and the customer it belongs to; the highest version is where it
-- belongs now (a merge moves it, and the view below follows merges that came later).
CREATE TABLE IF NOT EXISTS identity_links
(
    identifier       String,                     -- anon:..., device:..., email:<hash>, user:..., ...
    identifier_type  LowCardinality(String),
    customer_id      String,
    version          UInt32,
    reason           LowCardinality(String),     -- minted | linked | merged | repointed
    via              Nullable(String),           -- the identifier it was seen with
    event_id         String,
    event_time       DateTime64(3, 'UTC'),
    _topic           LowCardinality(String),
    _partition       UInt32,
    _offset          Int64,
    _inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY identifier
SETTINGS non_replicated_deduplication_window = 1000;

-- Customers merged into an older one. Each loser merges once (a redelivery writes the same
-- winner again); chains (a -> b, b -> c) are followed by customer_aliases.
CREATE TABLE IF NOT EXISTS customer_merges
(
    loser_id         String,
    winner_id        String,
    loser_born       DateTime64(3, 'UTC'),
    winner_born      DateTime64(3, 'UTC'),
    identifier       String,                     -- the identifier both claimed
    via              String,
    event_id         String,                     -- a touchpoint that showed they are one
    event_time       DateTime64(3, 'UTC'),
    _topic           LowCardinality(String),
    _partition       UInt32,
    _offset          Int64,
    _inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
ORDER BY loser_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Links refused by a guard rail (JOURNEYS_IDENTITY_*_LIMIT), one row per refused pair.
CREATE TABLE IF NOT EXISTS identity_violations
(
    identifier       String,                     -- at its limit
    identifier_type  LowCardinality(String),
    partner          String,                     -- refused
    partner_type     LowCardinality(String),
    customer_id      String,                     -- it would have joined
    limit            UInt32,
    event_id         String,
    event_time       DateTime64(3, 'UTC'),
    _topic           LowCardinality(String),
    _partition       UInt32,
    _offset          Int64,
    _inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(_inserted_at)
ORDER BY (identifier, partner)
SETTINGS non_replicated_deduplication_window = 1000;

-- Every merged customer id and the customer it is now, following chains of merges.
-- Merges always go to an older customer, so the chains end; the depth cap is a safeguard.
CREATE OR REPLACE VIEW customer_aliases AS
WITH RECURSIVE chain AS
(
    SELECT loser_id AS customer_id, winner_id AS canonical_id, 1 AS depth
    FROM customer_merges FINAL
    UNION ALL
    SELECT chain.customer_id, m.winner_id, chain.depth + 1
    FROM chain
    INNER JOIN (SELECT loser_id, winner_id FROM customer_merges FINAL) AS m
        ON m.loser_id = chain.canonical_id
    WHERE chain.depth < 64
)
SELECT customer_id, argMax(canonical_id, depth) AS canonical_id
FROM chain
GROUP BY customer_id;

-- Every identifier and the customer it belongs to now.
CREATE OR REPLACE VIEW v_identities AS
SELECT
    l.identifier AS identifier,
    l.identifier_type AS identifier_type,
    coalesce(nullIf(a.canonical_id, ''), l.customer_id) AS customer_id,
    l.reason AS reason,
    l.via AS via,
    l.event_id AS event_id,
    l.event_time AS event_time
FROM identity_links AS l FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = l.customer_id;

-- The fact views of 0003, with customer_id read through the merges: what a merged
-- customer did before the merge counts for the customer it became. Every analyst view
-- reads these, so funnels, paths and timelines see one customer.
CREATE OR REPLACE VIEW v_touchpoints AS
SELECT t.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), t.customer_id) AS customer_id)
FROM touchpoints AS t FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = t.customer_id;

CREATE OR REPLACE VIEW v_sessions AS
SELECT s.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), s.customer_id) AS customer_id)
FROM sessions AS s FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = s.customer_id;

CREATE OR REPLACE VIEW v_transitions AS
SELECT t.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), t.customer_id) AS customer_id)
FROM stage_transitions AS t FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = t.customer_id;

-- A merged customer's journey lives on in the winner's (the engine moved its state), so
-- its own last journey row is left out.
CREATE OR REPLACE VIEW v_journeys AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at)
FROM journeys FINAL
WHERE customer_id NOT IN (SELECT customer_id FROM customer_aliases);
