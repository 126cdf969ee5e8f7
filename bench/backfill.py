"""Backfill rate: the village's simulated history pushed through the pipeline in process.

``lorawatch simulate saint-sulpice --backfill 30d`` without the command line around it: the
scenario's 67 devices, seed 1, the ``--days`` before ``--end`` (fixed, so runs compare: the
meters' indexes are integrated from the scenario's epoch, which costs more the later the end),
into a fresh SQLite file with the default configuration (alerts on). Three passes, each on a
fresh file, in one run:

- ``simulation``: generating the ChirpStack events alone (no pipeline);
- ``serial``: simulation and pipeline in one process, one after the other (``workers=0``,
  how every backfill ran before the producer process);
- ``producer``: the simulation in a producer child process one day ahead of the pipeline
  (``workers=1``), which ``lorawatch simulate --backfill`` picks when the machine has a core
  to spare (the choice it would make at the end of the run is recorded).

Printed and written to bench/results/backfill.json: uplinks/s of each (wall clock), CPU per
uplink of the pipeline's process and of the producer, and the CPU-bound rate (uplinks per
CPU second of the busiest process: what the wall clock shows when each process has a core
of its own, which a machine shared with other work does not give), the readings stored (equal for both pipelines,
or the bench fails), peak RSS of all processes, and ``backfill`` against ``serial`` and the
target of 5,000 uplinks/s. Then what the serial pass's SQLite file takes per stored reading
(``dbstat``): the readings part (readings, consumption deltas, their rollup, the series and
every index on them) against the same rows copied into the wide rows of schema 2
(:mod:`bench.wide`), and apart from it the raw uplinks, which ``store.raw_retention_days``
bounds in time (not per reading: they cost the same whatever the decoders make of a frame).

    python -m bench.backfill [--days 30] [--end 2026-12-01] [--batch 5000]
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import report, wide
from lorawatch.app import config
from lorawatch.core import logs
from lorawatch.simulators import run, scenario
from lorawatch.simulators.simulation import Simulation

TARGET = 5000.0
STORAGE_TARGET = 40.0
"""Bytes per stored reading of the readings part of the SQLite file (issue 19)."""


def simulate_only(sim: Simulation, start: datetime, end: datetime) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = sum(1 for _ in sim.uplinks(start, end))
    return {"uplinks": n, "seconds": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def backfill(
    scene: Any, start: datetime, end: datetime, workdir: Path, batch: int, workers: int | None
) -> dict[str, Any]:
    from lorawatch.app.service import Service

    workdir.mkdir(parents=True)
    settings = config.load(
        None,
        {
            "inventory": {"path": str(scene.path)},
            "store": {"sqlite": {"path": str(workdir / "lw.sqlite")}},
        },
    )
    sim = Simulation(scene, seed=1)
    service = Service(settings, inventory=scene.inventory)
    applied = {
        "outputs": list(settings.store.outputs),
        "batch": batch,
        "workers": workers,
        "alerts": service.alerts is not None,
    }
    with report.TreeRss() as rss:
        wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        n = run.backfill(
            sim, start, end, service.bridge.process, batch=batch, progress=False, workers=workers
        )
        seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        children_s = _children_cpu() - children
    for store in service.stores:
        store.close()
    db = sqlite3.connect(workdir / "lw.sqlite")
    readings = db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    db.close()
    wide.wide_copy(workdir / "lw.sqlite", workdir / "wide.sqlite")
    split = wide.parts(workdir / "lw.sqlite")
    return {
        "uplinks": n,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "producer_cpu_s": children_s,
        "readings": readings,
        "peak_rss_mb": rss.result(),
        "settings": applied,
        "bytes_per_reading": {
            "file": (workdir / "lw.sqlite").stat().st_size / readings,
            **{part: size / readings for part, size in split.items()},
            "readings_part_in_wide_rows": wide.parts(workdir / "wide.sqlite")["readings"]
            / readings,
        },
        "retention_days": settings.store.raw_retention_days,
    }


def _children_cpu() -> float:
    """CPU seconds of the ended (joined) child processes: the producer's, once it is done."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_bound_rate(r: dict[str, Any]) -> float:
    """Uplinks per CPU second of the busiest process: the rate on cores of its own each."""
    return float(r["uplinks"] / max(r["cpu_s"], r["producer_cpu_s"]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--end", default="2026-12-01", help="simulated end (ISO date, UTC)")
    parser.add_argument("--batch", type=int, default=run.BACKFILL_BATCH)
    report.add_json_out(parser, "backfill")
    args = parser.parse_args()
    ctx = report.context()
    logs.setup("warning")
    scene = scenario.load(scenario.builtin("saint-sulpice"))
    end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)
    start = end - timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        alone = simulate_only(Simulation(scene, seed=1), start, end)
        serial = backfill(scene, start, end, root / "serial", args.batch, 0)
        now = backfill(scene, start, end, root / "backfill", args.batch, 1)
    auto = "producer" if run.spare_core() else "serial"

    def rate(r: dict[str, Any]) -> float:
        return float(r["uplinks"] / r["seconds"])

    print(f"{alone['uplinks']:,} uplinks of {scene.name}, {args.days:g} days before {args.end}")
    print(
        f"simulation alone: {rate(alone):7,.0f} uplinks/s"
        f" (CPU {alone['cpu_s'] / alone['uplinks'] * 1e6:.0f} µs/uplink)"
    )
    for name, r in (("serial", serial), ("producer", now)):
        print(
            f"{name:<16}  {rate(r):7,.0f} uplinks/s ({r['seconds']:.1f} s), CPU µs/uplink:"
            f" pipeline process {r['cpu_s'] / r['uplinks'] * 1e6:.0f}, producer"
            f" {r['producer_cpu_s'] / r['uplinks'] * 1e6:.0f}; CPU-bound rate"
            f" {cpu_bound_rate(r):,.0f} uplinks/s; {r['readings']:,} readings,"
            f" peak RSS {r['peak_rss_mb']['total']:.0f} MB, workers {r['settings']['workers']}"
        )
    size = serial["bytes_per_reading"]
    print(
        f"SQLite file of the serial pass: {size['file']:.1f} bytes per reading: readings part"
        f" {size['readings']:.1f} (readings, deltas, rollup, series and their indexes; the same"
        f" rows in the wide rows of schema 2: {size['readings_part_in_wide_rows']:.1f}, ratio"
        f" {size['readings'] / size['readings_part_in_wide_rows']:.2f}), raw uplinks"
        f" {size['raw_uplinks']:.1f} (kept {serial['retention_days']} days, then deleted with"
        f" the readings), other {size['other']:.1f}"
    )
    same = serial["readings"] == now["readings"] and serial["uplinks"] == now["uplinks"]
    ratio = rate(now) / rate(serial)
    print(
        f"producer/serial {ratio:.2f} (the command would pick: {auto}); target {TARGET:,.0f} uplinks/s:"
        f" {'met' if rate(now) >= TARGET else 'NOT met'} ({rate(now) / TARGET:.2f});"
        f" same readings: {same}"
    )
    report.write(
        args.json_out,
        "backfill",
        ctx,
        {
            "scenario": "saint-sulpice",
            "seed": 1,
            "days": args.days,
            "end": args.end,
            "batch": args.batch,
            "producer": now["settings"],
            "the_command_would_pick": auto,
        },
        {"simulation": alone, "serial": serial, "producer": now, "same_readings": same},
        [
            {
                "benchmark": f"`backfill`: {args.days:g} simulated days of the village"
                f" ({now['uplinks']:,} uplinks, 67 devices) through the pipeline into SQLite,"
                f" in process, batches of {args.batch:,}; simulation in a producer process",
                "figure": f"{rate(now):,.0f} uplinks/s ({now['seconds']:.0f} s; CPU-bound rate"
                f" {cpu_bound_rate(now):,.0f}/s: uplinks per CPU second of the busiest process),"
                f" peak RSS"
                f" {now['peak_rss_mb']['total']:.0f} MB (all processes); simulation alone"
                f" {rate(alone):,.0f} uplinks/s",
                "baseline": f"simulation then pipeline in one process: {rate(serial):,.0f}"
                f" uplinks/s (CPU-bound {cpu_bound_rate(serial):,.0f}/s)",
                "ratio": f"{ratio:.2f}; {rate(now) / TARGET:.2f} of the 5,000 uplinks/s target",
            },
            {
                "benchmark": f"`backfill`: the SQLite file of those {args.days:g} days"
                f" ({serial['readings']:,} readings), serial pass",
                "figure": f"{size['readings']:.1f} bytes per reading for readings, deltas, rollup,"
                f" series and their indexes; whole file {size['file']:.1f}, of which raw"
                f" uplinks {size['raw_uplinks']:.1f} (kept {serial['retention_days']} days)",
                "baseline": "the same rows in the wide rows of schema 2:"
                f" {size['readings_part_in_wide_rows']:.1f} bytes per reading",
                "ratio": f"{size['readings'] / size['readings_part_in_wide_rows']:.2f};"
                f" target 40 bytes: {'met' if size['readings'] <= STORAGE_TARGET else 'NOT met'}",
            },
        ],
    )
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
