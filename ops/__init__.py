"""Operations: what an admin needs to run the service without reading its code.

- `metrics.py`: the Prometheus metrics every process records (counters, histograms, gauges
  with bounded labels) and `collectors.py`, the gauges read at scrape time (queue depths);
  `serving.py` serves them: `GET /metrics` on the API or a port of its own per process.
- `logs.py`: one JSON object per log line (or plain text on a terminal), with the context
  of the work in hand (scanner, scan run, message uid, ticket, job, request) from
  contextvars, so a line of a scan can be found among many processes' logs.
- `readiness.py`: the checks behind `/readyz` and `mailscanner doctor`.
- `shutdown.py`: the process-wide "stop taking work" flag SIGTERM sets; the scan pipeline
  stops at the next batch boundary (the batch in hand committed, its side effects done,
  its checkpoint written) and hands its run to the next worker.

This package imports nothing from the rest of the project at module level, so every floor
(transport, scanning, workers, the API) can record into it.
"""
