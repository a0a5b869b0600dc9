-- Sessions are queryable about a second after the live touchpoint that opens them: a
-- provisional row (status 'provisional', version 0) until the engine releases that
-- touchpoint and writes the session's real rows (version 1 and up). A provisional
-- session that does not come to be (its touchpoint joined a session an earlier, later
-- arriving touchpoint opened, or its customer merged into another) gets a 'withdrawn'
-- row; analysts' views leave those out.

CREATE OR REPLACE VIEW v_sessions AS
SELECT s.* EXCEPT (_topic, _partition, _offset, _inserted_at)
    REPLACE (coalesce(nullIf(a.canonical_id, ''), s.customer_id) AS customer_id)
FROM sessions AS s FINAL
LEFT JOIN customer_aliases AS a ON a.customer_id = s.customer_id
WHERE s.status != 'withdrawn';
