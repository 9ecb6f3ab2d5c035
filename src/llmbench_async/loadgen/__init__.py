"""Load: what is sent and when, by how many processes.

Holds the runner (drives requests on a schedule from the ground's pacing), the workload
(prompt sizes, prefixes, batches), images attached to requests, datasets, trace replay,
multi-turn conversations, worker processes, the Ray backend, the ready check before a run
and the lost-target rule during it. May import watch, results, the wire and the ground.
"""
