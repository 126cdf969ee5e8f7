"""Fitting the weather-aware baselines of a year, against storing that year.

The fleet of ``bench.store`` (200 electricity meters, a year of 15-minute readings, ≈ 7
million readings and as many deltas) is first written into the SQLite store as the pipeline
writes it; that ingest time is the baseline, measured in the same run. Then every meter is
taken as a building and its year is fitted as the service and ``lorawatch savings`` fit it:
the 15-minute deltas summed into hours, the schedule terms derived hour by hour
(:class:`lorawatch.analytics.baseline.ScheduleClock`; opening hours Monday to Friday
08:00-18:00), a synthetic outdoor temperature (a seasonal and a daily swing), and the
time-of-week-and-temperature regression on the 8,760 hours. The target of issue 15 is a fit
time under 10 % of the ingest time.

    python -m bench.baseline_fit [--meters 200] [--days 365] [--json-out PATH]

The run is written to ``bench/results/baseline_fit.json`` (:mod:`bench.report`), from which
``python -m bench readme`` makes the README's row.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import report
from bench.store import Fleet, ingest
from lorawatch.analytics import baseline as towt
from lorawatch.stores.sqlite import SqliteStore

HOUR_S = 3600


def hours_of(fleet: Fleet) -> dict[int, np.ndarray]:
    """kWh per hour per meter, from the same deltas the store received."""
    out: dict[int, np.ndarray] = {}
    hours = fleet.steps // 4
    for m in range(fleet.meters):
        quarters = np.array([fleet.delta(m, k) for k in range(hours * 4)])
        out[m] = quarters.reshape(hours, 4).sum(axis=1)
    return out


def features(hours: int, start: float) -> np.ndarray:
    clock = towt.ScheduleClock()
    rows = np.zeros((hours, towt.N_INPUTS))
    for i in range(hours):
        t = start + i * HOUR_S
        how = int(t // HOUR_S + 72) % 168  # 1970-01-01 was a Thursday
        hod = how % 24
        occupied = how < 120 and 8 <= hod < 18
        since_close, closure, since_open = clock.step(t, occupied)
        temp = (
            12 - 7 * math.cos(2 * math.pi * i / 8760) + 4 * math.sin(2 * math.pi * (hod - 9) / 24)
        )
        until = float(8 - hod) if not occupied and how < 120 and 5 <= hod < 8 else 0.0
        rows[i] = (temp, occupied, how, hod, since_close, closure, since_open, until)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    report.add_json_out(parser, "baseline_fit")
    args = parser.parse_args()
    ctx = report.context()
    fleet = Fleet(args.meters, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite")
        cpu = time.process_time()
        n, ingest_s, _, _ = ingest(fleet, 50, store.write)
        ingest_cpu = time.process_time() - cpu
        store.close()
    print(
        f"ingest of the year: {n:,} readings (+ as many deltas) in {ingest_s:.1f} s "
        f"({ingest_cpu:.1f} s CPU, generation included)"
    )

    t0, cpu = time.perf_counter(), time.process_time()
    series = hours_of(fleet)
    rows = features(len(series[0]), fleet.times[0].timestamp())
    prep_s = time.perf_counter() - t0
    fits: list[towt.Fit] = []
    t0 = time.perf_counter()
    for m in range(fleet.meters):
        fitted = towt.fit(rows, series[m])
        assert fitted is not None
        fits.append(fitted)
    fit_s = time.perf_counter() - t0
    fit_cpu = time.process_time() - cpu
    total = prep_s + fit_s
    worst = max(f.cv_rmse_pct for f in fits)
    wall_pct, cpu_pct = 100 * total / ingest_s, 100 * fit_cpu / ingest_cpu
    print(
        f"baseline fits: {fleet.meters} buildings x {rows.shape[0]} h in {fit_s:.1f} s "
        f"({1000 * fit_s / fleet.meters:.0f} ms each) + {prep_s:.1f} s to build the hours "
        f"(worst CV(RMSE) {worst:.1f} %)"
    )
    verdict = "met" if wall_pct < 10 else "MISSED"
    print(
        f"ratio fit / ingest: {wall_pct:.1f} % of the wall time, {cpu_pct:.1f} % of the CPU "
        f"time (target < 10 %: {verdict})"
    )
    report.write(
        args.json_out,
        "baseline_fit",
        ctx,
        {
            "meters": args.meters,
            "days": args.days,
            "hours_fitted": int(rows.shape[0]),
            "store": "SqliteStore, WAL, synchronous=FULL, batches of 50 steps of every meter",
            "model": "time-of-week-and-temperature (lorawatch.analytics.baseline.fit)",
        },
        {
            "readings": n,
            "ingest_s": ingest_s,
            "ingest_cpu_s": ingest_cpu,
            "prepare_s": prep_s,
            "fit_s": fit_s,
            "fit_ms_each": 1000 * fit_s / fleet.meters,
            "fit_cpu_s": fit_cpu,
            "ratio_wall_pct": wall_pct,
            "ratio_cpu_pct": cpu_pct,
            "worst_cv_rmse_pct": worst,
        },
        [
            {
                "benchmark": f"`baseline_fit`: the weather-aware baseline of {fleet.meters} "
                f"buildings fitted on {rows.shape[0]:,} hours each ({args.days} days of "
                "15-min deltas summed into hours)",
                "figure": f"{fit_s:.1f} s of fits ({1000 * fit_s / fleet.meters:.0f} ms each) "
                f"+ {prep_s:.1f} s to build the hours",
                "baseline": f"ingest of the same {n:,} readings into SQLite: {ingest_s:.0f} s",
                "ratio": f"fit/ingest {wall_pct:.1f} % wall, {cpu_pct:.1f} % CPU "
                f"(< 10 %: {verdict})",
            }
        ],
    )


if __name__ == "__main__":
    main()
