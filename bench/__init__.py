"""Benchmark harness: the gateway served as a subprocess over PostgreSQL + MariaDB demo sources.

Run ``python -m bench``; see ``bench/README.md`` for what is measured and how to read it.
"""
