"""Watching a run while it runs: the time series, the server's /metrics, the live view, and
the run's own live Prometheus feed (--prometheus-port).

May import results, the wire and the ground; never load, the session or the reports.
"""
