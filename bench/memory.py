"""Memory against the backlog's size: does draining twice as many uplinks hold more memory?

Two measures. ``--drain N`` is the one users see: N uplinks queued by a private Mosquitto
for the service's persistent session, then drained by the service as it runs in production
(its MQTT client in the receiver child process, SQLite output, alerts on, its pages served and
its command line loaded as ``lorawatch run``), its own process
started for it; every ``--every`` uplinks the resident memory of each of its processes is
read, and at the end their peaks (VmHWM, the sum over the service and each child it started:
the MQTT receiver). Written to bench/results/memory_drain.json; bounded
means the RSS at the last checkpoints equals the one at the first ones. Without ``--drain``:

The ingest bench's 200 EM300-DI meters (one uplink every 15 simulated minutes each) go
through the service's pipeline in process, in batches of the bridge's size, with SQLite as
the output and the alert engine on, as ``--sizes`` growing backlogs; after each size the
resident memory is read (after a garbage collection) and, with ``--attribute``, what the
growth since the first size is made of, by the code that allocated it (tracemalloc: slow,
so off by default). No broker: what the receiver child holds is bounded by the MQTT receive
window and measured by ``bench.ingest``'s peak RSS of all processes. Written to
bench/results/memory.json; the figure that matters is the growth per 100,000 uplinks between
the last two sizes (0 when memory is bounded).

    python -m bench.memory [--sizes 20000 60000 100000] [--attribute]
    python -m bench.memory --drain 1000000 [--every 100000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from lorawatch.app import config
from lorawatch.core import logs
from lorawatch.gateway_bridge.source import Message, NullSource

CHUNK = 10_000
QUEUE_CHUNK = 50_000
CLIENT_ID = "bench-memory"


def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def owner(frames: Any) -> str:
    """The lorawatch module that allocated, the innermost one in the traceback."""
    for frame in frames:
        if "/lorawatch/" in frame.filename:
            return frame.filename.split("/lorawatch/", 1)[1]
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 60_000, 100_000])
    parser.add_argument("--attribute", action="store_true", help="tracemalloc attribution")
    parser.add_argument("--drain", type=int, help="queue this many uplinks and drain them")
    parser.add_argument("--every", type=int, default=100_000, help="drain checkpoint interval")
    parser.add_argument("--json-out", type=Path, help="default bench/results/memory[_drain].json")
    parser.add_argument("--role", choices=["service"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(json.dumps(drain_service(args.port, args.drain, args.every, Path(args.workdir))))
        return
    # Here, not at the top: the service's process (--role) holds lorawatch only, not the
    # bench's broker and AMQP helpers (pika, httpx: ~4 MB that no lorawatch process holds).
    from bench.ingest import DEVICES, backlog, inventory

    ctx = report.context()
    if args.drain:
        drain(args, ctx)
        return
    args.json_out = args.json_out or report.RESULTS / "memory.json"
    logs.setup("warning")
    from lorawatch.app.service import Service

    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = config.load(
            None,
            {
                "inventory": {"path": str(inventory(root / "inventory.toml"))},
                "store": {"sqlite": {"path": str(root / "lw.sqlite")}},
            },
        )
        service = Service(settings, source=NullSource())
        batch = service.bridge.batch_size
        points: list[dict[str, float]] = []
        first: Any = None
        done = 0
        for size in sizes:
            while done < size:
                n = min(CHUNK, size - done)
                now = datetime.now(UTC)
                messages = [Message(t, p, now) for t, p in backlog(n, done)]
                for i in range(0, n, batch):
                    service.bridge.process(messages[i : i + batch])
                done += n
                del messages
            gc.collect()
            points.append(
                {"uplinks": done, "rss_mb": rss_mb(), "peak_rss_mb": report.peak_rss_mb()}
            )
            print(f"after {done:>9,} uplinks: RSS {points[-1]['rss_mb']:6.1f} MB", flush=True)
            if args.attribute and first is None:
                tracemalloc.start(8)
                first = tracemalloc.take_snapshot()
        growth: dict[str, float] = {}
        if first is not None:
            last = tracemalloc.take_snapshot()
            by_owner: dict[str, float] = defaultdict(float)
            for stat in last.compare_to(first, "traceback"):
                by_owner[owner(reversed(stat.traceback))] += stat.size_diff / 2**20
            growth = dict(sorted(by_owner.items(), key=lambda kv: -kv[1])[:10])
            tracemalloc.stop()
        for store in service.stores:
            store.close()
    a, b = points[-2], points[-1]
    per_k = (b["rss_mb"] - a["rss_mb"]) / (b["uplinks"] - a["uplinks"]) * 1000
    print(f"growth between the last two sizes: {per_k * 100:+.1f} MB per 100,000 uplinks")
    for where, mb in growth.items():
        print(f"  {mb:7.1f} MB  {where}")
    event_days = sizes[-1] / DEVICES / 96
    report.write(
        args.json_out,
        "memory",
        ctx,
        {
            "sizes": sizes,
            "devices": DEVICES,
            "batch_size": batch,
            "outputs": list(settings.store.outputs),
            "alerts": service.alerts is not None,
            "dedup_window_s": settings.bridge.dedup_window_s,
            "attribute": args.attribute,
        },
        {"points": points, "mb_per_1000_uplinks": per_k, "growth_by_module_mb": growth},
        [
            {
                "benchmark": f"`memory`: the ingest backlog ({DEVICES} meters, up to"
                f" {sizes[-1]:,} uplinks = {event_days:.1f} days of event time) through the"
                " pipeline in process (SQLite, alerts on), RSS after a GC at each size",
                "figure": ", ".join(f"{p['uplinks']:,}: {p['rss_mb']:.0f} MB" for p in points),
                "baseline": f"the first size ({points[0]['uplinks']:,} uplinks)",
                "ratio": f"{per_k * 100:+.1f} MB per 100,000 more uplinks between the last two"
                " sizes (bounded: 0)",
            }
        ],
    )


def tree_rss_mb(root: int) -> dict[str, float]:
    """Current RSS of a process and each live descendant, by pid, and their sum."""
    found = {str(p): rss_mb(p) for p in [root, *report.descendants(root)]}
    return {**found, "total": round(sum(found.values()), 1)}


def drain_service(port: int, n: int, every: int, workdir: Path) -> dict[str, Any]:
    """The service's side: drain the queued backlog, reading memory at each checkpoint."""
    # Function-local: the bench's parent process only queues, it never runs the service.
    from lorawatch.app.service import Service

    report.load_as_run()
    logs.setup("warning")
    settings = config.load(
        None,
        {
            "inventory": {"path": str(workdir / "inventory.toml")},  # written by drain()
            "http": report.DEPLOYED_HTTP,
            "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": CLIENT_ID},
            "store": {"sqlite": {"path": str(workdir / "lw.sqlite")}},
        },
    )
    service = Service(settings)
    applied = {
        "outputs": list(settings.store.outputs),
        "batch_size": service.bridge.batch_size,
        "receiver": settings.mqtt.receiver,
        "receive_maximum": getattr(service.source, "cfg", settings.mqtt).receive_maximum,
        "alerts": service.alerts is not None,
        "dedup_window_s": settings.bridge.dedup_window_s,
        "http": report.AS_RUN,
    }
    started = time.perf_counter()
    service.start()
    checkpoints = []
    me = os.getpid()
    for target in [*range(every, n, every), n]:
        while service.bridge.acked < target:
            time.sleep(0.05)
        rss = tree_rss_mb(me)
        queued = service.source.health().get("queued", 0)
        checkpoints.append({"uplinks": service.bridge.acked, "rss_mb": rss, "queued": queued})
        print(
            f"{service.bridge.acked:>9,} drained: RSS {rss}, queued {queued}",
            file=sys.stderr,
            flush=True,
        )
    # Redelivered copies count as acked too: the drain ends when every uplink is stored.
    deadline = time.monotonic() + 300
    while (
        service.metrics.registry.get_sample_value("lorawatch_uplinks_decoded_total") or 0
    ) < n and time.monotonic() < deadline:
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    peaks = report.tree_peak_rss_mb()  # before stop: the receiver child is still alive
    service.stop()
    db = sqlite3.connect(workdir / "lw.sqlite")
    stored, pulses = db.execute(
        "SELECT COUNT(*), SUM(value) FROM readings WHERE name = 'pulse_count'"
    ).fetchone()
    uplinks = db.execute("SELECT COUNT(*) FROM uplinks").fetchone()[0]
    letters = db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY 1").fetchall()
    db.close()
    sample = service.metrics.registry.get_sample_value
    counts = {
        "uplinks_stored": uplinks,
        "dead_letters": dict(letters),
        "duplicates": sample("lorawatch_duplicates_total"),
        "received": sample("lorawatch_messages_received_total"),
        "acked": service.bridge.acked,
    }
    print(f"counts {counts}", file=sys.stderr, flush=True)
    return {
        "seconds": seconds,
        "checkpoints": checkpoints,
        "peak_rss_mb": peaks,
        "readings_stored": stored,
        "pulse_sum": int(pulses or 0),
        "counts": counts,
        "settings": applied,
    }


def drain(args: argparse.Namespace, ctx: dict[str, Any]) -> None:
    # Here, not at the top: see main.
    from bench.ingest import DEVICES, backlog, inventory, pulse_sum, queue_for
    from tests.servers import Mosquitto

    n = args.drain
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        broker = Mosquitto(root / "mosquitto", report.BROKER_OPTIONS)
        broker.start()
        try:
            queued = time.perf_counter()
            for first in range(0, n, QUEUE_CHUNK):
                # The session is created with the first chunk, then kept while it is away.
                queue_for(
                    broker,
                    [CLIENT_ID] if first == 0 else [],
                    backlog(min(QUEUE_CHUNK, n - first), first),
                )
                print(f"queued {min(n, first + QUEUE_CHUNK):,}", flush=True)
            print(f"queued {n:,} uplinks in {time.perf_counter() - queued:.0f} s", flush=True)
            workdir = root / "service"
            workdir.mkdir()
            inventory(workdir / "inventory.toml")
            cmd = [sys.executable, "-m", "bench.memory", "--role", "service", "--drain", str(n)]
            cmd += ["--every", str(args.every), "--port", str(broker.port)]
            cmd += ["--workdir", str(workdir)]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            result: dict[str, Any] = json.loads(out.splitlines()[-1])
        finally:
            broker.stop()
    expected = pulse_sum(n)
    ok = result["readings_stored"] == n and result["pulse_sum"] == expected
    points = result["checkpoints"]
    peak = result["peak_rss_mb"]
    first, last = points[0], points[-1]
    per_100k = (
        (last["rss_mb"]["total"] - first["rss_mb"]["total"])
        / max(1, last["uplinks"] - first["uplinks"])
        * 100_000
    )
    print(
        f"drained {n:,} uplinks in {result['seconds']:.0f} s ({n / result['seconds']:,.0f}/s);"
        f" {result['readings_stored']:,} pulse counts stored, sum"
        f" {'right' if ok else 'WRONG'}"
    )
    print(
        f"peak RSS of all processes {peak['total']:.0f} MB ({peak}); RSS at"
        f" {first['uplinks']:,}: {first['rss_mb']['total']:.0f} MB, at {last['uplinks']:,}:"
        f" {last['rss_mb']['total']:.0f} MB ({per_100k:+.1f} MB per 100,000 uplinks);"
        f" target < 150 MB: {'met' if peak['total'] < 150 else 'NOT met'}"
    )
    report.write(
        args.json_out or report.RESULTS / "memory_drain.json",
        "memory_drain",
        ctx,
        {
            "uplinks": n,
            "devices": DEVICES,
            "every": args.every,
            "broker": "Mosquitto (private), QoS 1, persistent session, MQTT 5, autosave every 1800 s",
            **result["settings"],
        },
        {**result, "expected_pulse_sum": expected, "ok": ok, "mb_per_100k_uplinks": per_100k},
        [
            {
                "benchmark": f"`memory --drain`: {n:,} queued v4 uplinks ({DEVICES} meters) drained"
                " by the service as in production (receiver child, SQLite output, alerts on,"
                f" HTTP {result['settings'].get('http', 'off')}); peak RSS of all its processes"
                " (sum of each one's VmHWM)",
                "figure": f"peak {peak['total']:.0f} MB; RSS "
                + ", ".join(
                    f"{p['uplinks']:,}: {p['rss_mb']['total']:.0f} MB"
                    for p in points
                    if p in (points[0], points[len(points) // 2], points[-1])
                ),
                "baseline": f"the first checkpoint ({first['uplinks']:,} uplinks)",
                "ratio": f"{per_100k:+.1f} MB per 100,000 more uplinks (bounded: 0); target"
                f" < 150 MB: {'met' if peak['total'] < 150 else 'NOT met'}",
            }
        ],
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
