"""Baselines that read the same raw topics as the pipeline, each in its own process:

    aiokafka_decode  a bare aiokafka consumer that only decodes JSON (a Python consumer's ceiling)
    faust_decode     a bare Faust agent that only decodes JSON (the framework's ceiling)
    quix_peer        a Quix Streams app that normalises, sessionizes and counts per stage

Each is run as `python -m pipeline.bench.baselines.<name> ARGS` and writes a `Finish`
(JSON) to `--result` once it has processed `--expected` records.
"""
