"""``python -m llmbench_async.mock --config-json JSON``: the server process of `MockProcess`."""

from .server import main

main()
