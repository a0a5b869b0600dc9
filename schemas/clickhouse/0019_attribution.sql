-- Attribution (docs/analysts.md, "Attribution"): each conversion's credit, per model, to
-- the touches of its path, written when the engine applies it (final) and again, as a new
-- version, when a late touch joins its path. A conversion is a purchase, or the first
-- reaching of a stage the stage model names a conversion goal. A model's credits of one
-- conversion sum to 1 and to its revenue (a goal's is 0).
CREATE TABLE IF NOT EXISTS attribution_credits
(
    conversion_id   String,
    goal            LowCardinality(String),    -- purchase, or a conversion-goal stage
    customer_id     String,
    converted_at    DateTime64(3, 'UTC'),
    model           LowCardinality(String),
    touch_event_id  String,
    touch_time      DateTime64(3, 'UTC'),
    channel         LowCardinality(String),
    campaign        Nullable(String),
    source          LowCardinality(Nullable(String)),
    conversions     Decimal(18, 6),
    revenue         Decimal(18, 4),
    version         UInt32,
    _topic          LowCardinality(String),
    _partition      UInt32,
    _offset         Int64,
    _inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(converted_at)
ORDER BY (conversion_id, model, touch_event_id)
TTL toDateTime(converted_at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Conversions and revenue credited per goal, model and channel, campaign and source,
-- for conversions in [since, until).
CREATE OR REPLACE VIEW attribution_between AS
SELECT
    goal,
    model,
    channel,
    ifNull(campaign, '(none)') AS campaign,
    ifNull(source, '(none)') AS source,
    sum(conversions) AS conversions,
    sum(revenue) AS revenue
FROM attribution_credits FINAL
WHERE converted_at >= {since:DateTime64(3)} AND converted_at < {until:DateTime64(3)}
GROUP BY goal, model, channel, campaign, source
ORDER BY goal, model, conversions DESC;

-- The models side by side: purchases credited to each channel by each model.
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
FROM attribution_credits FINAL
WHERE goal = 'purchase'
GROUP BY channel
ORDER BY linear DESC;
