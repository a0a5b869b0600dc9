"""The journey map: a page the worker serves at /map/ (pipeline.web) for analysts and
marketers: the stages as a flow diagram, the funnel with its conversion and drop-off
rates, and the drop-off alerts over time, for a date range and a channel, campaign and
segment, refreshed live. Every number is the answer of a parameterised view
(schemas/clickhouse/0013), read on the read-only connection; the page's assets
(assets/) are served by the worker itself, nothing from a CDN."""
