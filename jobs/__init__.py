"""Jobs that keep the data fresh on their own: ``python -m jobs schedule`` (docs/cli.md).

This package sits above ``connectors/`` and ``metrics/``: it calls both, neither imports it
(tests/test_layering.py).
"""
