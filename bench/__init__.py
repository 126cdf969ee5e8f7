"""Benchmarks: run as scripts (``python -m bench.decode``), never collected by pytest."""
