"""The session: one whole run or sweep, from a RunConfig to a RunResult.

Discovers the model, checks the target is ready, starts the load and the watchers, gathers
the summary. May import load, watch, results, the wire and the ground; never the reports or
the command line.
"""
