-- A stage model's own dimensions (docs/analysts.md, "Funnels"; e.g. device): each session
-- keeps its entry touchpoint's values of them, and counts and alert explanations break
-- sessions down by them beside channel, campaign and segment.
ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS dimensions Map(LowCardinality(String), String)
        AFTER funnel_dropped_at;

-- A view keeps the columns its table had when it was made: v_sessions again.
CREATE OR REPLACE VIEW v_sessions AS
SELECT s.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), s.customer_id) AS customer_id)
FROM sessions AS s FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = s.customer_id
WHERE s.status != 'withdrawn';
