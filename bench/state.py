"""Write rate of the shared state: batch transactions into PostgreSQL, against SQLite's.

What a worker commits per batch when ``[state] backend = "postgresql"``: each uplink's frame
and identity, its device's last frame counter, its meter's state, a dead letter now and then,
the partition's fencing update, all in one transaction, through ``PostgresStore.write`` (the
call the bridge makes). The baseline, in the same run on the same batches: the embedded
SQLite store writing the same state (``SqliteStore.write``, readings left to InfluxDB), the
single-node default. Both are durable: PostgreSQL with fsync on (unlike the tests' cluster),
SQLite with ``synchronous=FULL``.

Also measured, per batch: the ownership check a worker makes before preparing each batch
(``acquire`` of partitions it holds), against reloading the stored state of the batch's own
devices every batch (what "always reload" would cost instead); and the reload of a whole
partition's meters on a takeover.

    python -m bench.state [--devices 5000] [--batches 60] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import report
from lorawatch.pipeline.meters import MeterEngine
from lorawatch.pipeline.records import Batch, DeadLetter, RawUplink
from lorawatch.stores.postgres import PostgresStore
from lorawatch.stores.settings import StateConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.servers import PostgreSQL

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PARTITIONS = 8


class DurablePostgreSQL(PostgreSQL):
    """The tests' private cluster with fsync on: a commit waits for the disk, as in production."""

    def command(self) -> list[str]:
        argv = super().command()
        i = argv.index("fsync=off")
        return argv[: i - 1] + argv[i + 1 :]


def dev(d: int) -> str:
    return f"70b3d5{d:010x}"


def state(d: int, n: int) -> str:
    """A meter state of the size ``MeterEngine.dirty_states`` writes."""
    at = (T0 + timedelta(minutes=15 * n)).isoformat()
    return orjson.dumps(
        {
            "key": [dev(d), "energy_kwh", ""],
            "floor": at,
            "base": [at, 1000.0 + n, at, None, None],
            "readings": [[at, 1000.5 + n, None]],
            "commands": [],
        }
    ).decode()


def batches(devices: int, count: int, size: int) -> list[Batch]:
    """Round-robin over the fleet, as live traffic arrives: every uplink a new frame."""
    out = []
    k = 0
    for _ in range(count):
        b = Batch()
        for _ in range(size):
            d, n = k % devices, k // devices
            t = T0 + timedelta(minutes=15 * n, seconds=d % 900)
            b.uplinks.append(
                RawUplink(dev(d), t, n, 85, bytes(24), f"{d}-{n}", t, "json", -97.0, 7.5, 2)
            )
            b.meter_state.append((f"{dev(d)}\tenergy_kwh\t", state(d, n)))
            b.partition_of[dev(d)] = f"q{d % PARTITIONS}"
            if k % 100 == 0:
                b.dead_letters.append(
                    DeadLetter(t, f"application/a/device/{dev(d)}/event/up", b"{%d" % k, "j", "")
                )
            k += 1
        b.partitions = set(b.partition_of.values())
        out.append(b)
    return out


def timed_writes(write: Any, work: list[Batch]) -> list[float]:
    seconds = []
    for b in work:
        started = time.perf_counter()
        write(b)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1000)
    report.add_json_out(parser, "state")
    args = parser.parse_args()
    ctx = report.context()
    work = batches(args.devices, args.batches, args.batch_size)
    rows_per_batch = args.batch_size * 3 + args.batch_size // 100  # uplink, device, meter, letters
    with tempfile.TemporaryDirectory() as tmp:
        server = DurablePostgreSQL(Path(tmp) / "pg")
        server.start()
        try:
            dsn = server.create_database("bench")
            cfg = StateConfig.model_validate({"backend": "postgresql", "dsn": dsn})
            pg = PostgresStore(cfg, worker="bench")
            pg.acquire({f"q{i}" for i in range(PARTITIONS)})
            sqlite = SqliteStore(Path(tmp) / "state.sqlite", readings=False)
            # Alternate halves so both see the same machine state (it drifts, it is shared).
            half = len(work) // 2
            pg_s = timed_writes(pg.write, work[:half])
            sq_s = timed_writes(sqlite.write, work[:half])
            sq_s += timed_writes(sqlite.write, work[half:])
            pg_s += timed_writes(pg.write, work[half:])
            owned = {f"q{i}" for i in range(PARTITIONS)}
            check = []
            reload = []
            engine = MeterEngine()
            for b in work[:20]:
                started = time.perf_counter()
                assert pg.acquire(owned) is None
                check.append(time.perf_counter() - started)
                devices = sorted({u.dev_eui for u in b.uplinks})
                started = time.perf_counter()
                states = pg.fetch(
                    "SELECT state FROM meter_state WHERE dev_eui = ANY(%s)", (devices,)
                )
                engine.load_states([s for (s,) in states])
                reload.append(time.perf_counter() - started)
            taker = PostgresStore(cfg, migrate=False, worker="taker")
            started = time.perf_counter()
            handover = taker.acquire({"q0"})
            assert handover is not None
            MeterEngine().load_states(handover.meter_states)
            takeover_s = time.perf_counter() - started
            taker.close()
            pg.close()
            sqlite.close()
        finally:
            server.cleanup()
    pg_rate = args.batch_size * len(pg_s) / sum(pg_s)
    sq_rate = args.batch_size * len(sq_s) / sum(sq_s)
    measured = {
        "postgresql_uplinks_per_s": round(pg_rate),
        "postgresql_rows_per_s": round(pg_rate * rows_per_batch / args.batch_size),
        "postgresql_batch_ms_median": round(statistics.median(pg_s) * 1000, 1),
        "sqlite_uplinks_per_s": round(sq_rate),
        "sqlite_batch_ms_median": round(statistics.median(sq_s) * 1000, 1),
        "postgresql_over_sqlite": round(pg_rate / sq_rate, 2),
        "ownership_check_ms_median": round(statistics.median(check) * 1000, 2),
        "reload_batch_devices_ms_median": round(statistics.median(reload) * 1000, 1),
        "takeover_partition_meters": len(handover.meter_states),
        "takeover_reload_ms": round(takeover_s * 1000, 1),
    }
    print(
        f"state writes, {len(work)} batches of {args.batch_size} uplinks over {args.devices} "
        f"devices ({rows_per_batch} rows a batch):\n"
        f"  PostgreSQL (fsync on)  {pg_rate:,.0f} uplinks/s = "
        f"{measured['postgresql_rows_per_s']:,} rows/s, "
        f"{measured['postgresql_batch_ms_median']} ms a batch (median)\n"
        f"  SQLite (baseline)      {sq_rate:,.0f} uplinks/s, "
        f"{measured['sqlite_batch_ms_median']} ms a batch\n"
        f"  PostgreSQL / SQLite    {pg_rate / sq_rate:.2f}\n"
        f"  per batch: ownership check {measured['ownership_check_ms_median']} ms vs reloading "
        f"the batch's devices {measured['reload_batch_devices_ms_median']} ms "
        f"({measured['reload_batch_devices_ms_median'] / max(measured['ownership_check_ms_median'], 0.01):.0f}x)\n"
        f"  takeover of one partition: {len(handover.meter_states)} meters reloaded in "
        f"{measured['takeover_reload_ms']} ms"
    )
    report.write(
        args.json_out,
        "state",
        ctx,
        {"devices": args.devices, "batches": args.batches, "batch_size": args.batch_size},
        measured,
        [
            {
                "benchmark": "state",
                "figure": f"{pg_rate:,.0f} uplinks/s into PostgreSQL state",
                "baseline": f"SQLite state {sq_rate:,.0f} uplinks/s",
                "ratio": f"{pg_rate / sq_rate:.2f}",
            }
        ],
    )


if __name__ == "__main__":
    main()
