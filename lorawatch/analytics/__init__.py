"""analytics: what the stored data means. Aggregates (baselines, occupancy split, night
baseload, intensity, year on year), open-data exports and monthly reports; the weather-aware
baseline model and savings verification.

It reads the stores through their protocol and the inventory; the alerts, the web and the CLI
build on it.

The model fits are small (a few hundred columns) and run beside ingestion on hosts of two
cores: a multi-threaded BLAS spends ten times longer fighting the other threads than one
thread spends computing (110 ms against 9 ms for a year-long fit, measured on such a host),
so unless the operator chose otherwise, numpy's BLAS gets one thread. It only takes effect
when this package is imported before numpy, which the service and the command line do.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
