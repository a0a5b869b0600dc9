"""Replaying exported files (CSV, JSON Lines, Parquet) into the pipeline: `journeys replay`.

    mapping.py   the mapping file: column or constant per canonical field, checked on load
    readers.py   rows of each format, streamed
    rows.py      a row -> the raw `import` event, or the problem naming column and value
    validate.py  the pipeline's own normaliser as the last check before sending
    ordering.py  event-time order within a bounded window, merged across files
    pacing.py    as fast as possible, or N times faster than it happened
    sender.py    Kafka: the raw import topic and the dead-letter topic
    replayer.py  the loop tying them together, and its summary
    command.py   the CLI around it: progress bar, rejected rows, summary, exit status

(Not to be confused with `pipeline.ingest.replay`, which replays dead letters.)
"""
