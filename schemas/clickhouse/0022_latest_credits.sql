-- A conversion's credits are the rows of its latest version. A touch can leave a path
-- between two versions (the engine keeps a customer's latest 50 touchpoints; a late
-- purchase starts the next one's path after it), and FINAL alone would keep its older
-- row beside the new ones, so a model's credits of the conversion would sum past 1.
CREATE OR REPLACE VIEW v_attribution_credits AS
SELECT * EXCEPT (_topic, _partition, _offset, _inserted_at, latest)
FROM (
    SELECT *, max(version) OVER (PARTITION BY conversion_id, model) AS latest
    FROM attribution_credits FINAL
)
WHERE version = latest;

CREATE OR REPLACE VIEW attribution_between AS
SELECT
    goal,
    model,
    channel,
    ifNull(campaign, '(none)') AS campaign,
    ifNull(source, '(none)') AS source,
    sum(conversions) AS conversions,
    sum(revenue) AS revenue
FROM v_attribution_credits
WHERE converted_at >= {since:DateTime64(3)} AND converted_at < {until:DateTime64(3)}
GROUP BY goal, model, channel, campaign, source
ORDER BY goal, model, conversions DESC;

CREATE OR REPLACE VIEW attribution_comparison AS
SELECT
    channel,
    sumIf(conversions, model = 'first_touch') AS first_touch,
    sumIf(conversions, model = 'last_touch') AS last_touch,
    sumIf(conversions, model = 'last_non_direct') AS last_non_direct,
    sumIf(conversions, model = 'linear') AS linear,
    sumIf(conversions, model = 'time_decay') AS time_decay,
    sumIf(conversions, model = 'position_based') AS position_based,
    sumIf(revenue, model = 'linear') AS revenue_linear
FROM v_attribution_credits
WHERE goal = 'purchase'
GROUP BY channel
ORDER BY linear DESC;
