"""Benchmarks: run from the repo root with `python -m bench` (all) or `python -m bench.<name>`;
never collected by pytest."""

import os

# As the service (lorawatch.analytics): numpy's BLAS on one thread; set before numpy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

BENCHES = (
    "decode",
    "ingest",
    "stages",
    "backfill",
    "memory",
    "store",
    "simulate",
    "alert_latency",
    "baseline_fit",
    "state",
)
"""Every benchmark, in the order `python -m bench` runs them and the README lists them."""
