"""Results: what the records mean, as numbers and verdicts.

Holds the statistics of a run (stats), each percentile's 95 % interval (intervals), the
steady-state window and --until-stable's check (steady), the --fail-if gate, goodput, the
sweep's capacity search, the comparison of two runs, and the facts every output states
about a run (facts: the saved description of what ran, its load, its warnings). May import
the wire (for an API's path) and the ground.
"""
