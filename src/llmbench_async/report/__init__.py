"""Reports: every rendering of a result (console, Markdown, JSON, HTML, JUnit, sweeps,
comparisons) and `publish`, which writes them where they were asked for.

May import the session, load, watch, results, the wire and the ground; only the command
line and the package's public API import the reports.
"""
