"""The version, as a constant: reading package metadata costs ~30 ms at every start-up.
tests/test_startup.py checks that it matches pyproject.toml."""

VERSION = "0.1.0"
