"""A year of 15-minute meter readings into each store, then "daily kWh per building for a year".

200 electricity meters in 20 buildings of 2 communes, 35,040 readings each (≈ 7 million),
are written as the pipeline writes them: per reading, the cumulative index (``energy_kwh``)
and its consumption delta (``energy_delta_kwh``), in batches of whole quarter hours of the
fleet (time-major, as live traffic arrives). Each store takes the same batches through
``Store.write``, the call the bridge makes, so the figures include the line-protocol encoding
and gzip for InfluxDB, and the upserts and quarter-hour rollup for SQLite. Rows are generated
directly as records (no MQTT, no decoding: ``bench.ingest`` measures that part), generated
again for each store rather than held, and the generation time is not counted.

Baselines measured in the same run, on the same machine state:
- a plain ``executemany`` of the same rows into an empty SQLite table without keys, one commit
  per batch: what any SQLite write costs here, so "store / plain" says what the natural keys,
  the index and the rollup cost. It runs interleaved with the store's pass on every
  ``--plain-every``-th batch (10th by default): an append-only table writes at the same rate
  whatever its size, so a sample spread over the run measures it at a tenth of the time;
- the series layout against the wide rows of schema 2 (:mod:`bench.wide`: one row per reading
  repeating device and place, written and queried as the store did then), each batch written
  to both in turn (and to the plain table every n-th): ingest rate, the
  query (best of ``--query-runs``, the two alternated), bytes per reading with each table and
  index from ``dbstat``; then the wide file is opened by ``SqliteStore``, which moves it to the
  series layout (timed), and its answer must be the same;
- SQLite against InfluxDB (a private ``influxd`` in a temporary folder), ingest and query;
- with ``--raw-query``, the same query on SQLite's deltas table, as it was read before the
  quarter-hour rollup existed.

    python -m bench.store [--meters 200] [--days 365] [--steps-per-batch 50] [--query-runs 5]
                          [--raw-query]
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import report
from bench.wide import WideStore, consumption_rows, parts, reading_rows, sizes
from lorawatch.core import timeutil
from lorawatch.core.timeutil import us
from lorawatch.pipeline.records import Batch, Consumption, Place, StoredReading
from lorawatch.pipeline.store import Bucket, Store
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.stores.sqlite_schema import QUARTER_US
from tests.servers import InfluxDB

TZ = "Europe/Paris"
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=1)  # local midnight, 1 January
QUARTER = timedelta(minutes=15)
BUILDINGS = 20
PLACES_PER_COMMUNE = BUILDINGS // 2
YEAR_START_WEEKDAY = 2  # 1 January 2025 is a Wednesday


class Fleet:
    """Deterministic readings: a daily load curve scaled per meter, indexes accumulating.

    Deltas are multiples of 1/1024 kWh, so sums are exact in floating point whatever order a
    store adds them in, and the two stores' answers can be compared for equality.
    """

    def __init__(self, meters: int, days: int) -> None:
        self.meters = meters
        self.steps = days * 96
        self.euis = [f"70b3d5e75e{m:06x}" for m in range(meters)]
        self.places = [
            Place(
                f"commune-{(m % BUILDINGS) // PLACES_PER_COMMUNE}",
                f"building-{m % BUILDINGS:02d}",
                f"meter-{m:03d}",
                "electricity",
            )
            for m in range(meters)
        ]
        self.times = [YEAR_START + (k - 1) * QUARTER for k in range(self.steps + 1)]
        self.end = YEAR_START + self.steps * QUARTER
        # Wh per quarter hour: night baseload, a day plateau, an evening bump.
        curve = [
            40 + 200 * (7 <= h < 18) + 80 * (18 <= h < 21) + 30 * math.sin(h / 3) for h in range(24)
        ]
        self.quarter_curve = [curve[(k // 4 + 1) % 24] for k in range(96)]
        self.scale = [0.5 + (m * 37 % 100) / 100 for m in range(meters)]
        # kWh per quarter hour, by meter, weekday (0) or weekend (1), and quarter of the day.
        self.table = [
            [
                [round(q * scale * factor * 1.024) / 1024 for q in self.quarter_curve]
                for factor in (1.15, 0.8)
            ]
            for scale in self.scale
        ]

    def delta(self, m: int, k: int) -> float:
        """A multiple of 1/1024 kWh (the local-time curve is approximated on UTC quarters)."""
        return self.table[m][self.weekend(k)][k % 96]

    @staticmethod
    def weekend(k: int) -> bool:
        return (YEAR_START_WEEKDAY + k // 96) % 7 >= 5

    def total(self) -> float:
        return sum(self.delta(m, k) for m in range(self.meters) for k in range(self.steps))

    def batches(self, steps_per_batch: int) -> Iterator[Batch]:
        index = [1000.0] * self.meters
        for k0 in range(0, self.steps, steps_per_batch):
            batch = Batch()
            readings, deltas = batch.readings, batch.consumption
            for k in range(k0, min(k0 + steps_per_batch, self.steps)):
                # Readings at 00:00, 00:15 ... 23:45 of each day, every delta inside the year.
                begin, end = self.times[k], self.times[k + 1]
                weekend, quarter = self.weekend(k), k % 96
                for m in range(self.meters):
                    d = self.table[m][weekend][quarter]
                    index[m] += d
                    eui, place = self.euis[m], self.places[m]
                    readings.append(StoredReading(eui, "energy_kwh", "", end, index[m], place))
                    deltas.append(
                        Consumption(eui, "energy_delta_kwh", "", begin, end, d, False, place)
                    )
            yield batch


def ingest(
    fleet: Fleet,
    steps: int,
    write: Callable[[Batch], None],
    baseline: Callable[[Batch], None] | None = None,
    every: int = 10,
) -> tuple[int, float, int, float]:
    """Write every batch with ``write`` and every ``every``-th one with ``baseline`` too;
    return readings and seconds spent inside each."""
    n = n_base = 0
    spent = spent_base = 0.0
    for i, batch in enumerate(fleet.batches(steps)):
        t = time.perf_counter()
        write(batch)
        spent += time.perf_counter() - t
        n += len(batch.readings)
        if baseline is not None and i % every == 0:
            t = time.perf_counter()
            baseline(batch)
            spent_base += time.perf_counter() - t
            n_base += len(batch.readings)
    return n, spent, n_base, spent_base


def side_by_side(
    fleet: Fleet, steps: int, writers: dict[str, tuple[Callable[[Batch], None], int]]
) -> dict[str, tuple[int, float]]:
    """Each batch to each writer in turn, ``(write, every)`` taking every ``every``-th batch;
    readings and seconds per writer. In turn, batch by batch, so that the machine's load
    (shared, and changing over a long run) falls on every writer alike."""
    spent = {name: [0, 0.0] for name in writers}
    for i, batch in enumerate(fleet.batches(steps)):
        for name, (write, every) in writers.items():
            if i % every == 0:
                t = time.perf_counter()
                write(batch)
                spent[name][1] += time.perf_counter() - t
                spent[name][0] += len(batch.readings)
    return {name: (int(n), float(s)) for name, (n, s) in spent.items()}


def plain_writer(path: Path) -> Callable[[Batch], None]:
    """The baseline: the same rows, same connection settings, no keys, no index, no rollup."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE readings (dev_eui TEXT, name TEXT, channel TEXT, time_us INTEGER,"
        " value REAL, commune TEXT, building TEXT, device TEXT, kind TEXT)"
    )
    db.execute(
        "CREATE TABLE consumption (dev_eui TEXT, name TEXT, channel TEXT, end_us INTEGER,"
        " start_us INTEGER, value REAL, gap INTEGER, commune TEXT, building TEXT, device TEXT,"
        " kind TEXT)"
    )

    def write(batch: Batch) -> None:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)", reading_rows(batch.readings)
        )
        db.executemany(
            "INSERT INTO consumption VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            consumption_rows(batch.consumption),
        )
        db.execute("COMMIT")

    return write


def daily_per_building(store: Store | WideStore, fleet: Fleet) -> tuple[list[Bucket], float]:
    t = time.perf_counter()
    buckets = store.consumption("energy_delta_kwh", YEAR_START, fleet.end, "day", TZ)
    return buckets, time.perf_counter() - t


def cpu_of(store: Store | WideStore, fleet: Fleet) -> float:
    """Thread CPU seconds of the query: on a shared machine, the query's own cost (an SQLite
    query runs in the caller's thread, from pages the previous runs left in its cache)."""
    t = time.thread_time()
    store.consumption("energy_delta_kwh", YEAR_START, fleet.end, "day", TZ)
    return time.thread_time() - t


def raw_daily_per_building(store: SqliteStore, fleet: Fleet) -> tuple[list[Bucket], float]:
    """The query as SQLite answered it before the rollup: every delta, through the index."""
    t = time.perf_counter()
    rows = store.fetch(
        f"SELECT building, end_us / {QUARTER_US} * {QUARTER_US}, SUM(value) FROM consumption"
        " WHERE name = ? AND end_us >= ? AND end_us < ? GROUP BY 1, 2",
        ("energy_delta_kwh", us(YEAR_START), us(fleet.end)),
    )
    buckets = timeutil.sum_by_period(rows, YEAR_START, fleet.end, "day", TZ)
    return buckets, time.perf_counter() - t


def file_bytes(root: Path, name: str) -> int:
    return sum(f.stat().st_size for f in root.glob(f"{name}*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--steps-per-batch",
        type=int,
        default=50,
        help="quarter hours of the whole fleet per batch (50 x 200 meters = 10,000 readings)",
    )
    parser.add_argument(
        "--plain-every", type=int, default=10, help="baseline on every n-th batch (1: all)"
    )
    parser.add_argument(
        "--query-runs", type=int, default=5, help="the query's best of this many, each layout"
    )
    parser.add_argument(
        "--raw-query", action="store_true", help="also time SQLite's query without the rollup"
    )
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    report.add_json_out(parser, "store")
    args = parser.parse_args()
    ctx = report.context()
    began = time.perf_counter()
    fleet = Fleet(args.meters, args.days)
    expected = fleet.total()
    print(
        f"{args.meters} meters x {fleet.steps:,} quarter hours = {args.meters * fleet.steps:,}"
        f" readings (+ as many deltas), {args.steps_per_batch * args.meters:,} readings a batch",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)

        sqlite = SqliteStore(root / "store.sqlite")
        wide = WideStore(root / "wide.sqlite")
        plain = plain_writer(root / "plain.sqlite")
        done = side_by_side(
            fleet,
            args.steps_per_batch,
            {
                "series": (sqlite.write, 1),
                "wide": (wide.write, 1),
                "plain": (plain, args.plain_every),
            },
        )
        (n, sqlite_s), (_, wide_s), (n_plain, plain_s) = done["series"], done["wide"], done["plain"]
        print(f"SqliteStore.write:   {n / sqlite_s:9,.0f} readings/s ({sqlite_s:.1f} s)")
        print(f"wide rows (schema 2): {n / wide_s:8,.0f} readings/s ({wide_s:.1f} s)")
        print(
            f"plain executemany:   {n_plain / plain_s:9,.0f} readings/s, each a reading row and a"
            f" delta row ({n_plain:,} readings, every {args.plain_every}th batch); the three"
            " written in turn, batch by batch",
            flush=True,
        )
        # Alternated, so that the machine's load falls on both layouts alike; the best of
        # each, in wall-clock time and in thread CPU time (what the layout costs).
        sqlite_days, sqlite_q = daily_per_building(sqlite, fleet)
        wide_days, wide_q = daily_per_building(wide, fleet)
        sqlite_cpu, wide_cpu = cpu_of(sqlite, fleet), cpu_of(wide, fleet)
        for _ in range(args.query_runs - 1):
            sqlite_q = min(sqlite_q, daily_per_building(sqlite, fleet)[1])
            wide_q = min(wide_q, daily_per_building(wide, fleet)[1])
            sqlite_cpu = min(sqlite_cpu, cpu_of(sqlite, fleet))
            wide_cpu = min(wide_cpu, cpu_of(wide, fleet))
        raw_q = raw_daily_per_building(sqlite, fleet) if args.raw_query else None
        print(
            f"daily kWh per building, series layout: {sqlite_q:.3f} s (CPU {sqlite_cpu:.3f} s),"
            f" wide rows {wide_q:.3f} s (CPU {wide_cpu:.3f} s), best of {args.query_runs};"
            f" series/wide {sqlite_q / wide_q:.2f} (time), {sqlite_cpu / wide_cpu:.2f} (CPU);"
            f" same answer: {sqlite_days == wide_days}",
            flush=True,
        )
        sqlite.close()
        wide.close()
        sqlite_bytes = file_bytes(root, "store.sqlite")
        sqlite_parts = parts(root / "store.sqlite")
        wide_bytes = file_bytes(root, "wide.sqlite")
        wide_tables = sizes(root / "wide.sqlite")
        series_tables = sizes(root / "store.sqlite")
        print(
            f"SQLite file: {sqlite_bytes / n:.1f} bytes per reading (its delta, the rollup, the"
            f" series and the indexes included; readings part {sqlite_parts['readings'] / n:.1f});"
            f" wide rows {wide_bytes / n:.1f}"
        )
        for label, tables in (("series layout", series_tables), ("wide rows", wide_tables)):
            print(
                f"  {label}: "
                + ", ".join(
                    f"{k} {v / n:.1f}"
                    for k, v in sorted(tables.items(), key=lambda kv: -kv[1])
                    if v / n >= 0.05
                )
                + " bytes per reading"
            )
        t = time.perf_counter()
        moved = SqliteStore(root / "wide.sqlite")
        migrate_s = time.perf_counter() - t
        moved_days, _ = daily_per_building(moved, fleet)
        moved.close()
        moved_bytes = file_bytes(root, "wide.sqlite")
        print(
            f"the wide file moved to the series layout in {migrate_s:.1f} s"
            f" ({n / migrate_s:,.0f} readings/s): {moved_bytes / n:.1f} bytes per reading,"
            f" answers the same: {moved_days == sqlite_days}",
            flush=True,
        )

        influx = InfluxDB(root / "influxdb")
        influx.start()
        try:
            influx.create_database("bench")
            store = InfluxStore(
                InfluxConfig(url=influx.url, database="bench", spool_dir=root / "spool")
            )
            n, influx_s, _, _ = ingest(fleet, args.steps_per_batch, store.write)
            print(
                f"InfluxStore.write:   {n / influx_s:9,.0f} readings/s ({influx_s:.1f} s)",
                flush=True,
            )
            influx_days, influx_q = daily_per_building(store, fleet)
            store.close()
        finally:
            influx.stop()

    print(
        f"daily kWh per building over the {args.days} days ({len(sqlite_days):,} buckets):"
        f" SQLite {sqlite_q:.3f} s (CPU {sqlite_cpu:.3f} s), wide rows {wide_q:.3f} s (CPU"
        f" {wide_cpu:.3f} s), best of {args.query_runs} each,"
        f" InfluxDB {influx_q:.2f} s"
        + (f", SQLite without the rollup {raw_q[1]:.2f} s" if raw_q else "")
    )
    print(
        f"ratios: ingest SQLite/InfluxDB {(n / sqlite_s) / (n / influx_s):.2f},"
        f" SqliteStore/plain {(n / sqlite_s) / (n_plain / plain_s):.2f},"
        f" series/wide {wide_s / sqlite_s:.2f} (readings/s); query SQLite/InfluxDB"
        f" {sqlite_q / influx_q:.2f}, series/wide {sqlite_q / wide_q:.2f} (time),"
        f" {sqlite_cpu / wide_cpu:.2f} (CPU);"
        f" bytes series/wide {sqlite_bytes / wide_bytes:.3f}"
    )
    same = [(b.group, b.start, b.value) for b in sqlite_days] == [
        (b.group, b.start, b.value) for b in influx_days
    ]
    same = same and wide_days == sqlite_days and moved_days == sqlite_days
    if raw_q is not None:
        same = same and raw_q[0] == sqlite_days
    total = sum(b.value for b in sqlite_days)
    print(
        f"check: stores agree (series, wide, moved, InfluxDB): {same}; total {total:,.3f} kWh,"
        f" expected {expected:,.3f}: {total == expected};"
        f" whole run {time.perf_counter() - began:.0f} s"
    )
    readings = args.meters * fleet.steps
    measured = {
        "readings": readings,
        "rows_per_reading": 2,
        "sqlite_readings_per_s": n / sqlite_s,
        "wide_readings_per_s": n / wide_s,
        "plain_executemany_readings_per_s": n_plain / plain_s,
        "plain_executemany_rows_per_s": 2 * n_plain / plain_s,
        "influx_readings_per_s": n / influx_s,
        "query_s": {
            "sqlite": sqlite_q,
            "wide": wide_q,
            "sqlite_cpu": sqlite_cpu,
            "wide_cpu": wide_cpu,
            "influxdb": influx_q,
            "sqlite_raw": raw_q[1] if raw_q else None,
            "runs": args.query_runs,
        },
        "sqlite_bytes": sqlite_bytes,
        "sqlite_bytes_per_reading": sqlite_bytes / n,
        "sqlite_tables_bytes": series_tables,
        "wide_bytes": wide_bytes,
        "wide_bytes_per_reading": wide_bytes / n,
        "wide_tables_bytes": wide_tables,
        "migration_s": migrate_s,
        "migrated_bytes_per_reading": moved_bytes / n,
        "stores_agree": same,
        "total_kwh": total,
        "expected_kwh": expected,
    }
    report.write(
        args.json_out,
        "store",
        ctx,
        {
            "meters": args.meters,
            "days": args.days,
            "readings_per_batch": args.steps_per_batch * args.meters,
            "plain_every": args.plain_every,
            "sqlite": "SqliteStore (series layout, schema 3), WAL, synchronous=FULL",
            "wide": "the wide rows of schema 2 (bench/wide.py), same settings",
            "influxdb": "InfluxDB 1.x (private), InfluxStore",
        },
        measured,
        [
            {
                "benchmark": f"`store`: {args.days} days of 15-min readings of {args.meters} meters"
                f" ({readings:,} readings, each with its delta: 2 rows), batches of"
                f" {args.steps_per_batch * args.meters:,} readings",
                "figure": f'SQLite {n / sqlite_s:,.0f} readings/s; "daily kWh per building"'
                f" over the period {sqlite_q:.2f} s; file {sqlite_bytes / n:.0f} bytes per reading"
                " (its delta, the rollup, the series and the indexes included)",
                "baseline": f"wide rows of schema 2: {n / wide_s:,.0f} readings/s, query"
                f" {wide_q:.2f} s, {wide_bytes / n:.0f} bytes per reading; InfluxDB 1.x"
                f" {n / influx_s:,.0f} readings/s, query {influx_q:.2f} s; plain `executemany`"
                f" {n_plain / plain_s:,.0f} readings/s ({2 * n_plain / plain_s:,.0f} rows/s)",
                "ratio": f"series/wide: ingest {wide_s / sqlite_s:.2f}, query time"
                f" {sqlite_q / wide_q:.2f} (CPU {sqlite_cpu / wide_cpu:.2f}), bytes"
                f" {sqlite_bytes / wide_bytes:.2f};"
                f" ingest SQLite/InfluxDB {(n / sqlite_s) / (n / influx_s):.2f};"
                f" SqliteStore/plain {(n / sqlite_s) / (n_plain / plain_s):.2f}; query"
                f" SQLite/InfluxDB {sqlite_q / influx_q:.2f} (time)",
            }
        ],
    )
    if not same or total != expected:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
