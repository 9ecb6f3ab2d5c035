"""Watching a run while it runs: the time series, the server's /metrics, the live view.

May import results, the wire and the ground; never load, the session or the reports.
"""
