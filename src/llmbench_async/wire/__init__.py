"""The wire: one request on the network and its answer, and nothing about load.

Holds the transport (our HTTP/1.1 connection on httptools, its pool and the proxy map),
the route (which transport serves a URL), the client (one request: send, stream, time
stamps at arrival, retries), the SSE parser, the per-API protocol objects, the reading of
odd answers (diagnosis), and structured output: the tool and schema files (structured), the
reply assembled and judged (output) against a JSON Schema subset (schema). May import only
the ground (the modules at the package root).
"""
