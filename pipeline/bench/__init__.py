"""`journeys bench`: throughput, latency, memory and scaling of the real pipeline, side by
side with baselines, on one broker and one fixed set of generated events.

    traffic.py     the fixed event set; bulk and paced producing
    processes.py   child processes and their CPU / RSS samples
    workers.py     pipeline workers as child processes, and when they are done
    latency.py     produce-to-queryable latencies (touchpoint rows, session rows)
    baselines/     bare aiokafka, bare Faust, and a Quix Streams peer (child processes)
    report.py      results as a rich table, JSON and markdown
    runner.py      the phases, in order

Usage:
    report = run_bench(BenchOptions(events=50_000), console)
"""
