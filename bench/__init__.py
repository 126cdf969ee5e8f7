"""Benchmarks: run from the repo root with `python -m bench` (all) or `python -m bench.<name>`;
never collected by pytest."""
